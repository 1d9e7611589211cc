"""``alignsim``: run, validate, sweep, serve and inspect scenarios from the command line.

User mistakes print one message and exit with status 2, LLM failures (server gone, engine dead) with status 3,
outputs that cannot be written (disk full, read-only) with status 4; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sim.errors import EXIT_OUTPUT, OutputError, UserError

if TYPE_CHECKING:
    from sim.llm.errors import LLMError


def checked_number(convert: Callable[[str], float], accept: Callable[[float], bool],
                   expected: str) -> Callable[[str], float]:
    """An argparse ``type``: ``convert(text)`` where ``accept`` holds of it, else argparse's message
    "EXPECTED, got 'TEXT'" and exit 2 (never a traceback from deep inside what would have used the value)."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"{expected}, got '{text}'")
        return value

    return parse


def _fits_a_seed(value: float) -> bool:
    from sim.scenario_files import MAX_SEED  # here, not at the top: `alignsim --help` starts without pydantic

    return 0 <= value <= MAX_SEED


seed_argument = checked_number(int, _fits_a_seed, "a seed is an integer from 0 to 2**63-1")
"""``--seed``: what a scenario's ``seed:`` accepts (``--seed -4`` was a numpy traceback from Mesa)."""
positive_int = checked_number(int, lambda v: v >= 1, "expected an integer of at least 1")
"""A count given on the command line (workers, samples, replications, token budgets)."""
port_argument = checked_number(int, lambda v: 1 <= v <= 65535, "a port is an integer from 1 to 65535")
"""``--port`` (99999 printed a URL and hung; 0 would serve on a port nobody is told)."""
positive_number = checked_number(float, lambda v: 0 < v < float("inf"), "expected a number above 0")
"""A size given on the command line (GiB): finite, above 0."""


def reply_source_argument(text: str) -> str:
    """``--cache-from``: a path that exists, made absolute (sweep workers may run in another folder)."""
    from pathlib import Path

    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no reply cache, run or sweep directory at '{text}'")
    return str(path.resolve())


def add_cache_from_argument(parser: argparse.ArgumentParser) -> None:
    """``--cache-from PATH`` (repeatable): sets ``llm.cache_from`` (`cache_from_overrides`)."""
    parser.add_argument("--cache-from", dest="cache_from", action="append", default=[], metavar="PATH",
                        type=reply_source_argument,
                        help="take replies made elsewhere from this reply cache, run or sweep directory; it is "
                        "only read (repeatable; llm.cache_from)")


def cache_from_overrides(args: argparse.Namespace) -> list[str]:
    """``--cache-from`` paths as the override that sets ``llm.cache_from`` to them (a JSON list is YAML)."""
    import json

    return [f"llm.cache_from={json.dumps(args.cache_from)}"] if args.cache_from else []


def _add_scenario_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
        help="override a field, e.g. --set environment.regrowth=1.5 (repeatable)",
    )


def cmd_run(args: argparse.Namespace) -> int:
    from sim.amendments import check_schedule, load_amendments
    from sim.runner import run
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario, [*args.overrides, *cache_from_overrides(args)])
    amendments = load_amendments(args.amendments) if args.amendments else ()
    check_schedule(amendments, scenario.steps, args.amendments)
    result = run(
        scenario, seed=args.seed, out=args.out, server_url=args.server,
        progress=not args.quiet, overwrite=args.overwrite, amendments=amendments,
    )
    from sim.numbers import format_number

    print(f"run directory: {result.path}")
    for key, value in result.summary.items():
        print(f"  {key:28s} {format_number(value)}")
    if len(result.amendments) < len(amendments):
        print(f"alignsim: warning: {len(amendments) - len(result.amendments)} of the {len(amendments)} amendments "
              f"were not applied: the run ended at step {len(result.model)}, before their steps", file=sys.stderr)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    if scenario.uses_llm() and scenario.llm.backend == "vllm":  # what `run` would start (without --server)
        from sim.llm.models import check_model

        check_model(scenario.llm.model, f"{args.scenario}: llm.model")
    groups = ", ".join(f"{g.count} {g.name} ({g.policy.kind})" for g in scenario.population)
    institutions = ", ".join(i.kind for i in scenario.institutions) or "none"
    print(f"{args.scenario}: valid. '{scenario.name}': {scenario.steps} steps, {groups}; "
          f"environment {scenario.environment.kind}; institutions: {institutions}")
    from sim.reach import institution_warnings

    for warning in [*scenario.warnings, *institution_warnings(scenario)]:
        print(f"alignsim: warning: {warning}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alignsim", description="Run, validate, sweep, serve and inspect alignsim scenarios."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_parser = commands.add_parser("run", help="run one scenario and write a run directory")
    _add_scenario_args(run_parser)
    run_parser.add_argument("--seed", type=seed_argument, help="run seed (default: the scenario's)")
    run_parser.add_argument("--out", help="run directory to write (default: under output.dir)")
    run_parser.add_argument("--server", metavar="URL", help="use this OpenAI-compatible vLLM server "
                            "(several: URL,URL,... share the requests by prompt prefix and fail over)")
    run_parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_cache_from_argument(run_parser)
    run_parser.add_argument("--amendments", metavar="FILE",
                            help="replay these amendments (a run directory's amendments.yaml)")
    run_parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run_parser.set_defaults(func=cmd_run)

    validate_parser = commands.add_parser("validate", help="check a scenario file without running it")
    _add_scenario_args(validate_parser)
    validate_parser.set_defaults(func=cmd_validate)

    from sim.llm.commands import add_models_parser, add_serve_parser

    add_models_parser(commands)
    add_serve_parser(commands)
    from sim.transcript import add_transcript_parser

    add_transcript_parser(commands)
    from sim.reference import add_parsers as add_reference_parsers

    add_reference_parsers(commands)
    from sim.sweeps.commands import add_plot_parser, add_sweep_parser

    add_sweep_parser(commands)
    add_plot_parser(commands)
    from sim.analysis.report import add_report_parser

    add_report_parser(commands)
    from sim.training.export import add_export_parser

    add_export_parser(commands)
    from sim.dashboard import add_dashboard_parser

    add_dashboard_parser(commands)
    from sim.training.commands import add_train_parser

    add_train_parser(commands)
    return parser


def _llm_failure(exc: LLMError) -> int:
    """One message for every LLM failure, no traceback; says when running again continues from the cache."""
    from sim.llm.errors import EXIT_LLM

    print(f"alignsim: LLM failure: {exc}", file=sys.stderr)
    if exc.resumable and exc.cache:
        print(f"alignsim: the replies received so far are cached in {exc.cache}: "
              "run the same command again to continue from the cache", file=sys.stderr)
    elif exc.resumable:
        print("alignsim: llm.cache is off, so no replies were kept: running the same command again starts over",
              file=sys.stderr)
    return EXIT_LLM


def _stdout_closed() -> int:
    """The reader of stdout went away (``alignsim run ... | head -1``): what was written stays written; stop quietly
    with the status of a shell's SIGPIPE, and point stdout at /dev/null so that Python's exit does not complain."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that cleanup runs: a killed run must not orphan its vLLM engine processes."""


TERMINATE_GRACE_S = 60.0


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _raise_terminated_by_deadline(signum: int, frame: object) -> None:
    """`_raise_terminated` for a process that ``main`` runs: if unwinding and interpreter exit have not ended it
    `TERMINATE_GRACE_S` after the first SIGTERM (seen once in CI: a run on the in-process engine still there 300 s
    after SIGTERM), a timer thread kills what is below it and exits 143 anyway."""
    if not any(isinstance(t, threading.Timer) and t.name == "alignsim-terminate" for t in threading.enumerate()):
        deadline = threading.Timer(TERMINATE_GRACE_S, _exit_terminated)
        deadline.name, deadline.daemon = "alignsim-terminate", True
        deadline.start()
    raise Terminated


def _exit_terminated() -> None:
    from sim.processes import descendants

    print("alignsim: terminated (cleanup did not finish; its processes were killed)", file=sys.stderr, flush=True)
    for pid in descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os._exit(143)


def _redeliver_swallowed(previous: Callable[[sys.UnraisableHookArgs], object]) -> Callable[..., None]:
    """An unraisable-exception hook: Ctrl-C or SIGTERM that arrived while Python ran a finalizer (``__del__``)
    is swallowed there as "Exception ignored", so deliver the signal again and the command still stops (seen: a
    SIGTERM lost in a regex object's ``__del__`` during vLLM's work, and the run went on). It is sent a moment
    later from a timer thread, so that its handler runs after the finalizer; if that lands in a finalizer too,
    this hook sends it again. Other unraisable exceptions go on to ``previous``."""

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            sig = signal.SIGTERM if issubclass(unraisable.exc_type, Terminated) else signal.SIGINT
            again = threading.Timer(0.05, os.kill, (os.getpid(), sig))
            again.daemon = True
            again.start()
        else:
            previous(unraisable)

    return hook


def main(argv: Sequence[str] | None = None) -> int:
    """The `alignsim` command; ``argv`` None: it is the process's own (console script, ``python -m sim.cli``),
    so SIGTERM also gets a deadline by which the process exits (`_raise_terminated_by_deadline`)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures go to files; a notebook keeps its inline backend
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's usage errors (status 2) and --help (0), returned like any other status
        return int(exc.code or 0)
    in_main_thread = threading.current_thread() is threading.main_thread()
    on_sigterm = _raise_terminated_by_deadline if argv is None else _raise_terminated
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main_thread else None
    previous_hook = sys.unraisablehook
    if in_main_thread:
        sys.unraisablehook = _redeliver_swallowed(previous_hook)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"alignsim: error: {exc}", file=sys.stderr)
        return 2
    except OutputError as exc:
        print(f"alignsim: error: {exc}", file=sys.stderr)
        print("alignsim: nothing half-written was left; free space or choose another output folder, then run "
              "the same command again to continue from the cache", file=sys.stderr)
        return EXIT_OUTPUT
    except BrokenPipeError:
        return _stdout_closed()
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        print(f"alignsim: error: a file or folder name is longer than the file system allows: {exc.filename}",
              file=sys.stderr)
        return 2
    except Exception as exc:
        from sim.llm.errors import LLMError

        if not isinstance(exc, LLMError):
            raise
        return _llm_failure(exc)
    except Terminated:
        print("alignsim: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("alignsim: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.unraisablehook = previous_hook
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
