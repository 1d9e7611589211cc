"""Child processes that die with their parent, whole trees included.

vLLM's server forks an engine core, which starts workers; the engine core ignores SIGTERM while it starts and
outlives a server process that is killed (shared/notes/vllm-cpu.md). So alignsim never starts such a command
directly: `start_guarded` starts this file as a small *guard* process (standard library only, run with
``python -I``), in a process group of its own, and the guard starts the command. The guard

- watches ``getppid()`` (five times a second): when alignsim dies, even by ``kill -9``, the guard is
  re-parented and sees it;
- is a child subreaper (``PR_SET_CHILD_SUBREAPER``, Linux): processes orphaned below it (an engine core whose
  server died) are re-parented to it instead of to init, so it still finds them;
- when the command exits, or on SIGTERM/SIGINT/SIGHUP, or when its parent dies, stops every process below it:
  SIGTERM, then SIGKILL to whatever is left after a grace period; then it exits with the command's status.

Processes that a library starts inside our own process (``vllm.LLM`` spawns its engine core) cannot run under a
guard; a `Watchdog` watches us for them instead and stops them if we die without doing so.

Why not the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) here: it fires when the *thread* that
started the child ends, not the process, so a server started from a short-lived thread (a dashboard callback,
a thread pool) would be killed under a live alignsim. Sweep workers, which run our own code and are started by
the thread that runs the whole sweep, do use it (`die_with_parent`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 20.0


def start_guarded(command: Sequence[str], *, grace_s: float = GRACE_S, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``command`` under a guard (see the module docstring); the returned process is the guard.

    Its pid is also the process group of the whole tree. Stop it with `stop_guarded`.
    """
    guard = [sys.executable, "-I", os.path.abspath(__file__), str(os.getpid()), f"{grace_s:g}", "--", *command]
    return subprocess.Popen(guard, start_new_session=True, **popen)


def stop_guarded(process: subprocess.Popen[bytes], timeout_s: float = GRACE_S + 10.0) -> int:
    """Ask the guard to stop its tree and wait; SIGKILL the process group if the guard does not finish in time."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left: the guard did its job
        os.killpg(process.pid, signal.SIGKILL)  # whatever a killed guard could not stop
    return process.wait()


def _stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, parent pid, ...), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()
    except OSError:
        return None


def _process_table() -> list[tuple[int, int, bytes]]:
    """(pid, parent pid, state) of every process, from Linux ``/proc``; empty elsewhere."""
    table = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            table.append((int(entry), int(fields[1]), fields[0]))
    return table


def start_time(pid: int) -> str | None:
    """When a live ``pid`` started (clock ticks since boot): with its pid, it names one process for good."""
    fields = _stat(pid)
    return None if fields is None or fields[0] == b"Z" else fields[19].decode()


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``: zombies left out, but not what is below one (a process read under a
    parent that has just died, before the kernel handed it to a subreaper, is still below ``pid``)."""
    children: dict[int, list[int]] = {}
    dead: set[int] = set()
    for child, parent, state in _process_table():
        children.setdefault(parent, []).append(child)
        if state == b"Z":
            dead.add(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in dead:
                found.append(child)
            todo.append(child)
    return found


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` to this process when the thread that started it ends (Linux; else nothing).

    For worker processes that run our own code (sweep workers), first thing; ``parent`` is the pid that started
    them: if it is already gone, the signal would never come, so this process exits now.
    """
    _prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:
        os._exit(1)


def _prctl(option: int, value: int) -> bool:
    """Linux prctl(2); False where it is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return libc.prctl(option, value, 0, 0, 0) == 0


def _reap(keep: int) -> None:
    """Collect exited children other than ``keep`` (orphans re-parented to a subreaper become its children)."""
    me = os.getpid()
    for pid, parent, state in _process_table():
        if parent == me and state == b"Z" and pid != keep:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def stop_tree(child: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM every process below this one; SIGKILL those still there after ``grace_s``.

    ``child`` is reaped by its `Popen`, so that its exit status is kept.
    """
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for pid in descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline, empty = time.monotonic() + wait_s, 0
        while time.monotonic() < deadline:
            child.poll()
            _reap(keep=child.pid)
            empty = 0 if descendants(os.getpid()) else empty + 1
            if empty == 2:  # twice, 0.1 s apart: an orphan being handed over is seen by the second look
                return
            time.sleep(0.1)


def guard(parent: int, grace_s: float, command: list[str]) -> int:
    """Run ``command`` until it exits, a stop signal arrives or ``parent`` dies; then stop its whole tree."""
    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    if os.getppid() != parent:  # alignsim died before we got here
        return 1
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    while child.poll() is None and not stopping and os.getppid() == parent:
        time.sleep(0.2)
    stop_tree(child, grace_s)
    code = child.wait()
    return 128 - code if code < 0 else code


class Watchdog:
    """Stops processes that code we do not control started for us (``vllm.LLM``'s engine core and workers) if
    this process dies without stopping them, even by SIGKILL; `stop` disarms it.

    They cannot run under a guard, so a watchdog process (this file with ``--watch``) watches ``getppid()`` as
    the guard does; when we die: SIGTERM, and SIGKILL after ``grace_s``, to each watched process that is still
    the same one (pid and start time) and to the processes below it.
    """

    def __init__(self, pids: Sequence[int], grace_s: float = GRACE_S) -> None:
        stamps = [f"{pid}:{t}" for pid in pids if (t := start_time(pid)) is not None]
        command = [sys.executable, "-I", os.path.abspath(__file__), "--watch", str(os.getpid()), f"{grace_s:g}"]
        self._process = subprocess.Popen([*command, *stamps], start_new_session=True)

    def stop(self) -> None:
        """We stopped the processes ourselves: the watchdog exits without touching them."""
        if self._process.poll() is None:
            self._process.terminate()
        self._process.wait()


def watch(parent: int, grace_s: float, stamps: list[str]) -> int:
    """Wait until ``parent`` dies, then stop the stamped processes (``pid:start``) and all below them."""
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stopping.append(signum))
    while os.getppid() == parent and not stopping:
        time.sleep(0.2)
    if os.getppid() == parent:  # disarmed by `Watchdog.stop`
        return 0
    watched = [int(pid) for pid, t in (stamp.split(":") for stamp in stamps) if start_time(int(pid)) == t]
    everyone = {pid: start_time(pid) for pid in [*watched, *(d for w in watched for d in descendants(w))]}
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for pid, started in everyone.items():
            if start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while any(start_time(p) == t for p, t in everyone.items()) and time.monotonic() < deadline:
            time.sleep(0.1)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--watch":
        sys.exit(watch(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]))
    parent_pid, grace, separator, *argv = sys.argv[1:]
    assert separator == "--", sys.argv
    sys.exit(guard(int(parent_pid), float(grace), argv))
