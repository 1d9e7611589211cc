"""From a sweep spec to cells: every grid point crossed with every sampled point, each replicated.

A cell's identity is a hash of the base scenario, its overrides and its seed: rerunning a sweep finds the
cells already done by their ids, and a changed base scenario gives new ids instead of stale results.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import UserError
from sim.scenario import Scenario
from sim.sweeps.source import ScenarioSource
from sim.sweeps.spec import Range, SampleSpec, SweepSpec

# Fields that change where or how a run is computed, not what it computes: left out of a cell's identity.
_NOT_IDENTITY = {
    "name": True,
    "description": True,
    "sweep": True,
    "output": True,
    "seed": True,
    "llm": {"base_url", "cache", "cache_from", "engine_mode", "max_concurrency", "timeout_s", "retries"},
}


SHOWN = 5  # refused sweep points named in full; the rest are counted


def replication_seed(base_seed: int, replication: int) -> int:
    """Replication 0 runs on the base seed (as ``alignsim run`` would); later ones on hashes of it.

    The same replication gets the same seed in every cell (common random numbers), so differences between
    cells are not drowned in seed noise.
    """
    if replication == 0:
        return base_seed
    blob = f"alignsim-sweep:{base_seed}:{replication}".encode()
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big") % (2**31 - 1)


def assignment(path: str, value: Any) -> str:
    """``path=value`` in the ``--set`` syntax; JSON is valid YAML, so every value reads back unchanged."""
    return f"{path}={json.dumps(value)}"


@dataclass(frozen=True)
class Cell:
    """One run of the sweep: a case (or none), a point in parameter space and a replication seed."""

    index: int
    point: int
    params: dict[str, Any]
    replication: int
    seed: int
    cell_id: str
    case: str | None = None
    case_values: tuple[tuple[str, Any], ...] = ()

    def overrides(self) -> list[str]:
        return [*(assignment(p, v) for p, v in self.case_values), *(assignment(p, v) for p, v in self.params.items())]

    def value(self, parameter: str) -> Any:
        """This cell's value of a results parameter column (``case`` is the case's name)."""
        return self.case if parameter == "case" else self.params.get(parameter)


@dataclass(frozen=True)
class Plan:
    """The cells of a sweep and the scenario of each point (the cells of a point share it)."""

    parameters: list[str]
    cells: list[Cell]
    scenarios: list[Scenario]

    def scenario_of(self, cell: Cell) -> Scenario:
        return self.scenarios[cell.point]


def sample_points(sample: SampleSpec, seed: int) -> list[dict[str, Any]]:
    """``sample.n`` points over the ranges: uniform draws, or a Latin hypercube (one draw per stratum and axis)."""
    rng = np.random.default_rng(seed)
    paths = list(sample.ranges)
    if sample.method == "lhs":
        units = np.column_stack([(rng.permutation(sample.n) + rng.random(sample.n)) / sample.n for _ in paths])
    else:
        units = rng.random((sample.n, len(paths)))
    return [{p: _scale(sample.ranges[p], float(u)) for p, u in zip(paths, row, strict=True)} for row in units]


def _scale(r: Range, unit: float) -> int | float:
    """Map a unit-interval draw onto a range (integers: equal-width bins over low..high inclusive)."""
    if r.integer:
        return int(min(r.high, math.floor(r.low + unit * (r.high - r.low + 1))))
    if r.log:
        return float(math.exp(math.log(r.low) + unit * (math.log(r.high) - math.log(r.low))))
    return float(r.low + unit * (r.high - r.low))


def build_plan(source: ScenarioSource, spec: SweepSpec) -> Plan:
    """Every cell of the sweep, each point validated against the scenario like a ``--set`` override."""
    base = source.base()
    _check_values(source, spec)
    seed = base.seed if spec.seed is None else spec.seed
    grid = [dict(zip(spec.grid, values, strict=True)) for values in itertools.product(*spec.grid.values())]
    samples = sample_points(spec.sample, seed) if spec.sample else [{}]
    cases: list[tuple[str | None, dict[str, Any]]] = list(spec.cases.items()) or [(None, {})]
    points = [(case, values, {**g, **s}) for case, values in cases for g in grid for s in samples]
    cells_source = source.without_sweep()
    checks = []
    for case, values, point in points:
        overrides = [*(assignment(p, v) for p, v in values.items()), *(assignment(p, v) for p, v in point.items())]
        label = f"{source.source}: sweep point {', '.join(overrides) or '(base)'}"
        checks.append((overrides, f"{label} (case '{case}')" if case else label))
    scenarios = _every_one(cells_source, checks, "sweep points")
    digest = _digest(base)
    cells = [
        _cell(i * spec.replications + r, i, point, r, replication_seed(seed, r), digest, case, values)
        for i, (case, values, point) in enumerate(points)
        for r in range(spec.replications)
    ]
    return Plan(spec.parameters(), cells, scenarios)


def _cell(index: int, point: int, params: dict[str, Any], replication: int, seed: int, digest: str,
          case: str | None = None, case_values: dict[str, Any] | None = None) -> Cell:
    """A cell whose id hashes what it runs: the base, its values, its case (name and values) and its seed; two
    cases with the same values are still two cells."""
    what: dict[str, Any] = {"base": digest, "params": sorted(params.items()), "seed": seed}
    if case is not None:
        what["case"] = [case, sorted((case_values or {}).items())]
    cell_id = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return Cell(index, point, params, replication, seed, cell_id, case, tuple((case_values or {}).items()))


def _digest(base: Scenario) -> str:
    dumped = base.model_dump(mode="json", exclude=_NOT_IDENTITY)
    return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()


def _check_values(source: ScenarioSource, spec: SweepSpec) -> None:
    """Each swept value alone must make a valid scenario; the message names the sweep entry at fault."""
    cells = source.without_sweep()
    entries: list[tuple[tuple, str, Any]] = [(("sweep", "grid", p), p, v) for p, vs in spec.grid.items() for v in vs]
    if spec.sample:
        for path, r in spec.sample.ranges.items():
            ends = (int(r.low), int(r.high)) if r.integer else (r.low, r.high)
            entries += [(("sweep", "sample", "ranges", path), path, end) for end in ends]
    checks = []
    for loc, path, value in entries:
        entry = f"{' '.join(loc[1:-1])} '{path}'"
        where = f"{source.line_of(loc)}: sweep.{entry}" if loc in source.lines else entry  # else: an argument
        checks.append(([assignment(path, value)], f"{where}: value {json.dumps(value)}"))
    for name, values in spec.cases.items():
        loc = ("sweep", "cases", name)
        where = f"{source.line_of(loc)}: sweep.cases '{name}'" if loc in source.lines else f"case '{name}'"
        checks.append(([assignment(p, v) for p, v in values.items()], where))
    _every_one(cells, checks, "swept values")


def _every_one(source: ScenarioSource, checks: list[tuple[list[str], str]], what: str) -> list[Scenario]:
    """Each (overrides, label)'s scenario; every one that is refused is named, before any cell runs."""
    scenarios, refused = [], []
    for overrides, label in checks:
        try:
            scenarios.append(source.resolve(overrides, label))
        except UserError as exc:
            refused.append(str(exc))
    if len(refused) == 1:
        raise UserError(refused[0])
    if refused:
        shown = "\n".join(m.replace("\n", "\n    ") for m in refused[:SHOWN])
        more = f"\n... and {len(refused) - SHOWN} more" if len(refused) > SHOWN else ""
        raise UserError(f"{len(refused)} of {len(checks)} {what} are refused (no cell has run):\n{shown}{more}")
    return scenarios
