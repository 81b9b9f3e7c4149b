"""The generator's one error type: a bad argument or missing reference data."""

from __future__ import annotations


class GenerateError(Exception):
    """A bad generator argument or missing reference data: a user error, no traceback."""
