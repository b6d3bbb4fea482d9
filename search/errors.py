"""The user-error type the CLI turns into one line on stderr and exit status 2."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(ValueError):
    """A user mistake: bad file, key, value, URL or name. The message says which."""
