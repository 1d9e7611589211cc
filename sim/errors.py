"""Errors a user can fix. The CLI prints their message (no traceback) and exits with status 2."""


class UserError(Exception):
    """A mistake in a scenario file, an override or an argument; the message says what and where."""
