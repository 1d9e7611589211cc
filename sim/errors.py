"""Errors the CLI prints as one message, without a traceback, each with its own exit status.

`UserError` (exit 2) is a mistake the user can fix in the input. `OutputError` (exit 4) is an output that
could not be written (a full disk, a read-only folder); like an LLM failure (`sim.llm.errors`, exit 3) it
leaves nothing half-written, and running the same command again, once fixed, continues from the cache.
"""

from __future__ import annotations

import errno
import sqlite3

EXIT_OUTPUT = 4
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
_STORAGE_SQLITE = ("disk is full", "readonly database", "unable to open database file", "disk I/O error")


class UserError(Exception):
    """A mistake in a scenario file, an override or an argument; the message says what and where."""


class OutputError(Exception):
    """An output could not be written (disk full, read-only, no permission): the message names the path."""

    resumable = True


def storage_error(exc: BaseException, what: str) -> OutputError | None:
    """An `OutputError` for ``exc`` if it is a storage failure (full, read-only, denied), else None.

    ``what`` names the output, e.g. "run directory runs/commons/...". A missing file is not a storage failure.
    """
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        return OutputError(f"cannot write the {what}{where}: {exc.strerror or exc}")
    if isinstance(exc, sqlite3.OperationalError) and any(s in str(exc) for s in _STORAGE_SQLITE):
        return OutputError(f"cannot write the {what}: {exc}")
    return None
