"""One exception type for every failure a user can act on.

The CLI prints it as one line (plus an optional hint) and exits non-zero; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class EdgebenchError(Exception):
    """A failure with a message a user can act on."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"
