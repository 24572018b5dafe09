"""The resolved configuration of a run (``config.resolved.yaml``).

The fully resolved config (includes expanded, defaults filled, units converted) that the
engine ran, so a run folder alone says exactly what produced it, as desmod keeps the
config in each run's workspace.  Keys keep the order the config loader gave them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from archsim.outputs.atomic import json_ready, write_text

__all__ = ["RESOLVED_YAML", "write_resolved_config"]

RESOLVED_YAML = "config.resolved.yaml"


def write_resolved_config(
    config_resolved: dict[str, Any], out_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write ``config.resolved.yaml`` (``yaml.safe_dump``, keys in their original order)."""
    text = yaml.safe_dump(
        json_ready(config_resolved, finite_only=False),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    return [write_text(Path(out_dir) / RESOLVED_YAML, text)]
