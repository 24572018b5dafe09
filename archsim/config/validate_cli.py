"""``archsim validate FILE``: check an architecture description without simulating it.

Prints ``OK: <file> (<n> layers)`` and returns 0 for a valid description, or prints the
error (file, key path, value, what was expected) to stderr and returns 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from archsim.config.errors import ConfigError
from archsim.config.loader import load_config

__all__ = ["validate_main"]


def validate_main(path: str, overrides: Sequence[str] = ()) -> int:
    """Validate ``path`` with ``overrides``; return the process exit code (0 valid, 2 invalid)."""
    try:
        config = load_config(path, list(overrides))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for other in exc.others:
            print(f"error: {other}", file=sys.stderr)
        return 2
    print(f"OK: {path} ({len(config.layers)} layers)")
    return 0
