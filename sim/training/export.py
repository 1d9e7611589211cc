"""``alignsim export``: the LLM decisions of a run or a sweep as a training dataset (docs/training.md).

A run directory holds what export joins: ``transcript.jsonl`` (every request: the messages exactly as sent, the
reply, who, when, which sample), ``credit.parquet`` (each agent's credit for each step, sim/training/credit.py) and,
where a group drew candidates, ``candidates.parquet`` (each sample's credit in the step it would have made,
sim/training/candidates.py). One decision is one (agent, step, phase, round) of purpose ``decision``; its samples
are the candidates drawn, or the one reply. The formats (sim/training/dataset.py):

- ``sft``: per decision, its best valid sample under the chosen reward (rejection sampling: the best of n);
- ``preference``: per decision, its best valid sample (chosen) and its worst (rejected), where the worst earned
  strictly less;
- ``reward``: every sample with its credit under the chosen reward.

A decision's prompt is its messages as first sent; the completion is the reply that counted (after a re-ask, the
second reply). A decision with several samples is exported only where they were scored: a best-of-n agent acts on
the proxy's pick, not on sample 0, so its step's credit belongs to no sample in particular.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from sim.errors import UserError
from sim.training.candidates import CANDIDATES_FILE
from sim.training.credit import CREDIT_FILE, Credit
from sim.training.dataset import FORMATS, REWARDS, DatasetInfo, Format, Reward, Source, write_dataset
from sim.transcript import TRANSCRIPT, read_transcript


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample of one LLM decision with its credit."""

    prompt: list[dict[str, str]]
    reply: str
    valid: bool
    credit: Credit
    sample: int


@dataclass(frozen=True, slots=True)
class Decided:
    """One LLM decision of one run: who, when, with which model, and its credited samples in sample order."""

    run: str
    seed: int
    agent: int
    group: str
    step: int
    phase: str
    round: int
    model: str
    adapter: str | None
    samples: tuple[Sample, ...]

    def row(self, picked: Sample, **columns: Any) -> dict[str, Any]:
        """A dataset row of the sample ``picked`` with the decision's common columns."""
        return {
            **columns, "run": self.run, "seed": self.seed, "agent": self.agent, "group": self.group,
            "step": self.step, "phase": self.phase, "round": self.round, "sample": picked.sample,
            "candidates": len(self.samples), "valid": picked.valid, "reward_specified": picked.credit.specified,
            "reward_institutional": picked.credit.institutional, "reward_true": picked.credit.true,
            "model": self.model, "adapter": self.adapter,
        }


@dataclass(frozen=True, slots=True)
class RunDir:
    """A run directory to export: its path, its name in the dataset, and its manifest."""

    path: Path
    name: str
    manifest: dict[str, Any]

    @property
    def scenario(self) -> dict[str, Any]:
        return self.manifest["scenario"]

    def source(self) -> Source:
        return Source(run_dir=str(self.path.resolve()), scenario=self.scenario["name"], seed=int(self.manifest["seed"]))

    def llm_of(self, group: str) -> tuple[str, str | None]:
        """(base model, adapter) of ``group``'s agents: its own ``llm`` block where it has one, else the run's."""
        spec = next((g for g in self.scenario["population"] if g.get("name") == group), {})
        own = spec.get("llm") or {}
        return str(own.get("model") or self.scenario["llm"]["model"]), own.get("adapter")


def run_dirs(path: str | Path) -> list[RunDir]:
    """The run directories named by ``path``: a run directory itself, or a sweep directory's successful runs."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such directory (give a run directory or a sweep directory)")
    if (folder / "manifest.json").is_file():
        return [_run_dir(folder, folder.name)]
    if (folder / "results.parquet").is_file():
        from sim.analysis.runs import ok_runs

        frame, _ = ok_runs(folder)
        return [_run_dir(folder / run, str(run)) for run in frame["run_dir"]]
    raise UserError(f"{folder} is neither a run directory (manifest.json) nor a sweep directory (results.parquet)")


def _run_dir(path: Path, name: str) -> RunDir:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise UserError(f"{manifest}: missing; the run directory is incomplete")
    return RunDir(path, name, json.loads(manifest.read_text(encoding="utf-8")))


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema_text))


def valid_reply(reply: str, schema: dict[str, Any] | None) -> bool:
    """Whether ``reply`` is a JSON value matching ``schema`` (what the asker accepted without a fallback)."""
    try:
        value = json.loads(reply)
    except ValueError:
        return False
    return schema is None or _validator(json.dumps(schema, sort_keys=True)).is_valid(value)


def _table(run: RunDir, name: str, key: list[str]) -> dict[tuple, Credit] | None:
    path = run.path / name
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    rewards = zip(frame["reward_specified"], frame["reward_institutional"], frame["reward_true"], strict=True)
    keys = zip(*(frame[k] for k in key), strict=True)
    return {tuple(map(int, k)): Credit(*map(float, r)) for k, r in zip(keys, rewards, strict=True)}


def decisions(run: RunDir) -> Iterator[Decided]:
    """Every credited LLM decision of ``run``, in the order they were asked."""
    if not (run.path / TRANSCRIPT).is_file():
        return
    credit = _table(run, CREDIT_FILE, ["step", "agent_id"])
    if credit is None:
        raise UserError(f"{run.path}: no {CREDIT_FILE}; the run was made before alignsim recorded credit: run it "
                        "again (the reply cache makes that quick)")
    scored = _table(run, CANDIDATES_FILE, ["step", "agent_id", "sample"]) or {}
    asked: dict[tuple, dict[int, list[dict[str, Any]]]] = {}
    for record in read_transcript(run.path):
        if record.get("purpose") == "decision" and record.get("agent") is not None:
            key = (record["agent"], record["step"], record["phase"], record.get("round", 0))
            asked.setdefault(key, {}).setdefault(record.get("sample", 0), []).append(record)
    seed = int(run.manifest["seed"])
    for (agent, step, phase, round_), by_sample in asked.items():
        several = len(by_sample) > 1
        samples = []
        for sample, attempts in sorted(by_sample.items()):
            credit_of = scored.get((step, agent, sample)) if several else credit.get((step, agent))
            if credit_of is None:  # several samples nobody scored, or an agent that did not act this step
                break
            reply = attempts[-1]["reply"]
            samples.append(Sample(attempts[0]["messages"], reply, valid_reply(reply, attempts[-1].get("schema")),
                                  credit_of, sample))
        else:
            group = attempts[0].get("group") or ""
            model, adapter = run.llm_of(group)
            yield Decided(run.name, seed, agent, group, step, phase, round_, attempts[0].get("model", model),
                          attempts[0].get("adapter", adapter), tuple(samples))


def assistant(reply: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": reply}]


def rows_of(decided: Decided, fmt: Format, reward: Reward) -> list[dict[str, Any]]:
    """The dataset rows of one decision in format ``fmt``, ranked under ``reward`` (ties: the earlier sample)."""
    samples = decided.samples
    if fmt == "reward":
        return [decided.row(s, prompt=s.prompt, completion=assistant(s.reply), reward=s.credit.under(reward))
                for s in samples]
    valid = [s for s in samples if s.valid]
    if not valid:
        return []
    best = max(valid, key=lambda s: (s.credit.under(reward), -s.sample))
    if fmt == "sft":
        return [decided.row(best, prompt=best.prompt, completion=assistant(best.reply),
                            messages=[*best.prompt, *assistant(best.reply)])]
    worst = min(samples, key=lambda s: (s.credit.under(reward), s.sample))
    if worst.credit.under(reward) >= best.credit.under(reward):
        return []
    return [decided.row(best, prompt=best.prompt, chosen=assistant(best.reply), rejected=assistant(worst.reply),
                        rejected_sample=worst.sample, reward_rejected=worst.credit.under(reward))]


def default_out(source: Path, fmt: str, reward: str) -> Path:
    return Path("datasets") / f"{source.resolve().name}-{fmt}-{reward}"


def export(source: str | Path, fmt: Format, reward: Reward, out: str | Path | None = None, overwrite: bool = False,
           progress: bool = True) -> tuple[DatasetInfo, Path]:
    """Write the dataset of ``source`` (a run or sweep directory) in format ``fmt`` under ``reward``; returns its
    description and folder."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}': expected one of {', '.join(FORMATS)}")
    if reward not in REWARDS:
        raise UserError(f"unknown reward '{reward}': expected one of {', '.join(REWARDS)}")
    runs = run_dirs(source)
    final = Path(out) if out is not None else default_out(Path(source), fmt, reward)
    rows: list[dict[str, Any]] = []
    models: dict[str, str] = {}
    adapters: set[str | None] = set()
    decided_count = 0
    for run in tqdm(runs, desc="export", unit="run", disable=not progress or len(runs) < 2, leave=False):
        for decided in decisions(run):
            decided_count += 1
            models.setdefault(decided.model, run.name)
            adapters.add(decided.adapter)
            rows.extend(rows_of(decided, fmt, reward))
    if not decided_count:
        raise UserError(f"no LLM decisions in {source}: its runs have no transcript of LLM agents' decisions "
                        "(a rule-based run, or output.transcript off)")
    if len(models) > 1:
        mixed = ", ".join(f"{model} (in {run})" for model, run in models.items())
        raise UserError(f"{source} mixes base models: {mixed}; a dataset trains one base model: export the runs of "
                        "each model apart")
    if not rows:
        raise UserError(f"no {fmt} rows in {source} under the {reward} reward: {_why_none(fmt)}")
    info = write_dataset(final, fmt, reward, rows, next(iter(models)), adapters.pop() if len(adapters) == 1 else None,
                         [run.source() for run in runs], overwrite=overwrite)
    return info, final


def _why_none(fmt: str) -> str:
    if fmt == "preference":
        return ("no decision has two samples of different credit (draw several with `candidates: n` in the LLM "
                "groups' policy)")
    return "no decision has a valid reply"


def add_export_parser(commands: argparse._SubParsersAction) -> None:
    """``alignsim export RUN_DIR|SWEEP_DIR --format F --reward R [--out DIR]``."""
    parser = commands.add_parser("export", help="write the LLM decisions of a run or sweep as a training dataset")
    parser.add_argument("source", help="a run directory or a sweep directory")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="sft: the best sample per decision; preference: (best, worst) pairs; reward: every "
                        "sample with its reward")
    parser.add_argument("--reward", required=True, choices=REWARDS,
                        help="what ranks samples: the specified reward, it less what institutions booked, or the "
                        "true utility")
    parser.add_argument("--out", help="dataset folder to write (default: datasets/<source>-<format>-<reward>)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    info, folder = export(args.source, args.format, args.reward, args.out, args.overwrite, progress=not args.quiet)
    print(f"dataset: {folder} ({info.rows} {info.format} rows, reward {info.reward}, base model {info.base_model}, "
          f"{len(info.sources)} run{'s' if len(info.sources) != 1 else ''})")
    return 0
