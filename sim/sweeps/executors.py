"""Where cells run: in this process, in local worker processes, or on a Ray cluster.

Every executor takes the same tasks and yields each cell's `CellResult` as it finishes, in any order. A worker
that dies (killed, out of memory) costs at most its cells, never the sweep.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from sim.errors import UserError
from sim.processes import die_with_parent
from sim.sweeps.cell import CellResult, CellTask, run_cell


class Executor(Protocol):
    name: str

    def start(self) -> None:
        """Acquire workers (connect to Ray, ...); raises `UserError` when that is impossible."""

    def run(self, tasks: list[CellTask]) -> Iterator[CellResult]:
        """Yield one outcome per task as each finishes."""

    def close(self) -> None:
        """Release the workers."""


def _lost(task: CellTask, exc: BaseException) -> CellResult:
    return CellResult(task.cell_id, "error", error=f"worker lost: {type(exc).__name__}: {exc}")


class InlineExecutor:
    """One cell after another in this process: no start-up cost, and fakes registered in a test still apply."""

    name = "inline"

    def start(self) -> None:
        return None

    def run(self, tasks: list[CellTask]) -> Iterator[CellResult]:
        for task in tasks:
            yield run_cell(task)

    def close(self) -> None:
        return None


class LocalExecutor:
    """A pool of ``workers`` spawned processes (spawn, not fork: the parent may hold threads and sockets)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self._pool is None:
            # Workers die with the sweep, even when it is killed with SIGKILL (their cells are rerun next time).
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=die_with_parent, initargs=(os.getpid(),))

    def run(self, tasks: list[CellTask]) -> Iterator[CellResult]:
        """A worker that dies breaks the whole pool and every cell in it: those cells run again in a new pool,
        once; a cell lost a second time is reported lost (not recorded on disk, so the next sweep retries it)."""
        losses: dict[str, int] = {}
        queue = list(tasks)
        while queue:
            self.start()
            assert self._pool is not None
            pending: dict[Future[CellResult], CellTask] = {self._pool.submit(run_cell, t): t for t in queue}
            queue = []
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = pending.pop(future)
                        try:
                            yield future.result()
                        except BrokenProcessPool as exc:
                            losses[task.cell_id] = losses.get(task.cell_id, 0) + 1
                            if losses[task.cell_id] > 1:
                                yield _lost(task, exc)
                            else:
                                queue.append(task)
                        except Exception as exc:
                            yield _lost(task, exc)
            except BaseException:  # Ctrl-C, or the caller stopped: do not let workers finish queued cells
                self._terminate()
                raise
            if queue:  # a broken pool takes no more work
                self._pool.shutdown(wait=True)
                self._pool = None

    def _terminate(self) -> None:
        """Kill the workers now; what they leave half-written is hidden and cleaned by the next sweep."""
        assert self._pool is not None
        for process in list((self._pool._processes or {}).values()):  # no public way before Python 3.14
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Cells as Ray tasks (one CPU each), on a local Ray (``address=None``) or a cluster.

    At most ``workers`` cells are in flight (all of them when None: the cluster's CPUs decide). Run
    directories are written by the workers, so on a cluster the sweep directory must be on a shared filesystem.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers
        self._owns = False

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install 'alignsim[ray]'") from None
        if ray.is_initialized():
            return
        local = self.address is None
        try:
            ray.init(
                address=self.address,
                num_cpus=(self.workers or os.cpu_count()) if local else None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UserError(f"--address {self.address}: cannot connect to a Ray cluster ({exc})") from None
        self._owns = True

    def run(self, tasks: list[CellTask]) -> Iterator[CellResult]:
        import ray

        self.start()
        remote = ray.remote(num_cpus=1, max_retries=0)(run_cell)
        queue = list(reversed(tasks))
        limit = self.workers or len(tasks)
        pending: dict[ray.ObjectRef, CellTask] = {}
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    task = queue.pop()
                    pending[remote.remote(task)] = task
                ready, _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(ready[0])
                try:
                    yield ray.get(ready[0])
                except Exception as exc:
                    yield _lost(task, exc)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owns:
            import ray

            ray.shutdown()
            self._owns = False


def make_executor(kind: str, workers: int | None, address: str | None = None) -> Executor:
    """The executor ``--executor`` names; ``--workers 1`` runs locally in this process."""
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if kind == "ray":
        return RayExecutor(address, workers)
    if address is not None:
        raise UserError("--address names a Ray cluster: use it with --executor ray")
    if kind != "local":
        raise UserError(f"unknown executor '{kind}'; expected local or ray")
    workers = workers or os.cpu_count() or 1
    return InlineExecutor() if workers == 1 else LocalExecutor(workers)
