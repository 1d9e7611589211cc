"""The ``sweep:`` block of a scenario file: which fields vary, over which values, how often.

Only pydantic here: `sim.scenario` imports this module, so it must not import the scenario back.
Whether each dotted path names a real scenario field is checked later, against the scenario itself
(`sim.sweeps.plan`), exactly like a ``--set`` override.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sim.scenario_files import Seed, StrictModel

# Fields a sweep may not vary: the seed comes from replications, and a sweep cannot sweep itself.
RESERVED = ("seed", "sweep")


def check_path(path: str) -> str:
    """A dotted scenario path such as ``environment.completeness`` or ``institutions.0.error_rate``."""
    parts = path.split(".")
    if not path or any(not p.strip() for p in parts):
        raise ValueError(f"'{path}' is not a dotted path like environment.completeness")
    if parts[0] in RESERVED:
        hint = "set sweep.replications and sweep.seed instead" if parts[0] == "seed" else "a sweep cannot vary itself"
        raise ValueError(f"'{path}' cannot be swept: {hint}")
    return path


class Range(StrictModel):
    """A sampled interval ``[low, high]``; integers when both ends are integers, log-uniform if ``log``."""

    low: float
    high: float
    integer: bool = False
    log: bool = False

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError(f"a range is [low, high], got {len(value)} values")
            low, high = value
            both_int = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            return {"low": low, "high": high, "integer": both_int}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got [{self.low:g}, {self.high:g}]")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low:g}")
        return self


class SampleSpec(StrictModel):
    """``n`` points drawn from the ranges: independent uniform (random) or a Latin hypercube (lhs)."""

    method: Literal["random", "lhs"] = Field(
        "lhs", description="random: independent uniform draws; lhs: Latin hypercube."
    )
    n: int = Field(ge=1, description="Number of sampled points.")
    ranges: dict[str, Range] = Field(min_length=1, description="Dotted path -> [low, high].")

    @field_validator("ranges")
    @classmethod
    def _paths(cls, ranges: dict[str, Range]) -> dict[str, Range]:
        for path in ranges:
            check_path(path)
        return ranges


class SweepSpec(StrictModel):
    """A sweep: the named cases, crossed with the grid's product and the samples, each run ``replications`` times."""

    cases: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Named variants of the scenario (case name -> {dotted path: value}), "
                                          "crossed with the grid and samples; the results get a `case` column.",
    )
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted path -> the values to try.")
    sample: SampleSpec | None = Field(None, description="Points sampled from ranges (crossed with the grid).")
    replications: int = Field(1, ge=1, description="Runs per point, each with its own seed derived from `seed`.")
    seed: Seed | None = Field(None, description="Base seed of replications and samples; the scenario's seed if unset.")
    dir: str = Field("sweeps", description="Folder under which the sweep directory <dir>/<name> is created.")
    run_plots: bool = Field(False, description="Write each run's own plots (about a second per run).")

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in grid.items():
            check_path(path)
            if not values:
                raise ValueError(f"grid '{path}' has no values")
            repeated = [v for i, v in enumerate(values) if v in values[:i]]
            if repeated:
                raise ValueError(f"grid '{path}' repeats {repeated[0]!r}")
        return grid

    @field_validator("cases")
    @classmethod
    def _cases(cls, cases: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, overrides in cases.items():
            if not name or not all(c.isalnum() or c in "_-" for c in name):
                raise ValueError(f"case name '{name}' must be letters, digits, '_' or '-'")
            for path in overrides:
                check_path(path)
        return cases

    @model_validator(mode="after")
    def _disjoint(self) -> SweepSpec:
        swept = set(self.grid) | set(self.sample.ranges if self.sample else {})
        both = set(self.grid) & set(self.sample.ranges if self.sample else {})
        if both:
            raise ValueError(f"{', '.join(sorted(both))} is both in the grid and sampled; choose one")
        for name, overrides in self.cases.items():
            clash = sorted(swept & set(overrides))
            if clash:
                raise ValueError(f"case '{name}' sets {', '.join(clash)}, which the sweep also varies; choose one")
        return self

    def parameters(self) -> list[str]:
        """The results' parameter columns: ``case`` (with cases), then the swept paths, grid first, in order."""
        return [*(["case"] if self.cases else []), *self.grid, *(self.sample.ranges if self.sample else {})]
