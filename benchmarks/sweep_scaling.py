"""Sweep scaling: the same rule-based sweep on 1 worker, on 2 local worker processes, and on Ray with 2 CPUs.

scaling efficiency = t(1 worker) / (2 x t(2 workers)); target >= 0.8 on 2 cores. One worker runs the cells in
the sweep's own process (no start-up); two workers pay for spawning two processes that import the package, so
each cell has to be long enough (``--set steps=...``) for that to be small. Ray is measured twice: cold
(``ray.init`` starts a local Ray inside the sweep) and warm (the sweep joins a Ray that is already up, as on a
cluster); the ratio reported is warm Ray ÷ local processes. Every measurement writes a fresh sweep directory.

Wall-clock scaling needs two idle cores. Linux's autogroup scheduler shares the CPU fairly between sessions,
not processes: while other sessions keep the cores busy, this benchmark's session gets the same share with two
workers as with one. The CPU seconds (this process and its local workers) do not depend on that:
cpu1 / cpu2 is about the efficiency two idle cores would give.

    python benchmarks/sweep_scaling.py [--scenario scenarios/contracts_sweep.yaml] [--set steps=400] [--replications 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from sim import sweep


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (local workers; not Ray's)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, folder: Path, **kwargs) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process and local workers) of one sweep into a fresh directory."""
    started, cpu = time.perf_counter(), cpu_seconds()
    table = sweep(out=folder / label, progress=False, **kwargs)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    assert (table["status"] == "ok").all(), table["error"].dropna().tolist()
    print(f"  {label:28s} {elapsed:7.2f} s wall, {cpu:7.2f} s CPU  ({len(table)} cells, "
          f"{elapsed / len(table):.2f} s/cell)", flush=True)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="scenarios/contracts_sweep.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="PATH=VALUE")
    parser.add_argument("--replications", type=int, default=2)
    args = parser.parse_args()
    overrides = args.overrides if args.overrides is not None else ["steps=400"]
    common = {"scenario": args.scenario, "overrides": overrides, "replications": args.replications}
    print(f"{args.scenario} {' '.join(overrides)}, {args.replications} replications; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    folder = Path(tempfile.mkdtemp(prefix="alignsim-sweep-bench-"))
    try:
        t1, cpu1 = timed("local, 1 worker (in process)", folder, workers=1, **common)
        t2, cpu2 = timed("local, 2 worker processes", folder, workers=2, **common)
        cold, _ = timed("ray, 2 CPUs, cold start", folder, executor="ray", workers=2, **common)
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            warm, _ = timed("ray, 2 CPUs, already up", folder, executor="ray", workers=2, **common)
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"scaling efficiency, 2 workers vs 1: t1 / (2 t2) = {t1 / (2 * t2):.2f}  (target >= 0.8)")
    print(f"CPU cost of 2 workers vs 1: cpu1 / cpu2 = {cpu1 / cpu2:.2f}  (about the efficiency on two idle cores)")
    print(f"ray (already up) / local processes: {warm / t2:.2f}   ray cold start / local processes: {cold / t2:.2f}")


if __name__ == "__main__":
    main()
