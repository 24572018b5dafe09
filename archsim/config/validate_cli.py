"""``archsim validate FILE``: check a design description without simulating it.

Runs exactly the checks ``archsim run`` does before it simulates (``archsim.run.prepare_run``:
the schema, the fabric's mapping and load-time checks, the model weights, the data set and the
probes), so a file ``validate`` accepts is one ``run`` accepts.  Prints
``OK: <file> (<fabric>, <n> layers)`` and returns 0, or prints the error (file, key path,
value, what was expected) to stderr and returns 2.  Nothing is written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from archsim.config.errors import ConfigError
from archsim.config.loader import load_config

__all__ = ["validate_main"]


def validate_main(path: str, overrides: Sequence[str] = (), *, images: int | None = None,
                  start: int | None = None, data_dir: str | None = None,
                  probes: tuple[str, ...] = ()) -> int:
    """Validate ``path`` with ``overrides``; return the process exit code (0 valid, 2 invalid)."""
    from archsim.nn.errors import DatasetError
    from archsim.run import RunOptions, prepare_run

    try:
        config = load_config(path, list(overrides))
        prepared = prepare_run(config, RunOptions(images=images, start=start, data_dir=data_dir,
                                                  probes=probes))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for other in exc.others:
            print(f"error: {other}", file=sys.stderr)
        return 2
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"OK: {path} ({config.fabric}, {len(prepared.net.layers)} layers)")
    return 0
