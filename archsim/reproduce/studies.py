"""The design-space studies behind DW-CNN's tables and figures, run with the sweep machinery.

A *study* is one sweep file in ``arch_configs/reproduce/`` (base description + axes; shipped
with the package, found through :func:`archsim.resources.configs_dir`). Each is
run by :func:`archsim.sweep.runner.run_sweep` into ``<out>/runs/<study>[-calibrated]/``, one
ordinary run folder per design point, so every number of the reproduction comes out of the
simulator exactly as ``archsim sweep`` would produce it.

Hardware studies (area, power, energy) simulate ``hw_images`` images per point (default 10):
those quantities do not depend on the pixel values (LeNet-5 energy per image differs by
< 0.01 % between 2 and 12 images); the only image-count effect is the one-time load of binary
weights into their registers, amortised over the run (as it is over a deployment). Accuracy
studies simulate ``images`` images per point. Hardware studies also run with the calibrated
technology
(``arch_configs/tech/dwcnn_calibrated.yaml``) applied as ``--set`` overrides.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archsim.config.errors import ConfigError
from archsim.resources import configs_dir

__all__ = [
    "GENERIC",
    "CALIBRATED",
    "OUTPUTS",
    "STUDIES",
    "Point",
    "Study",
    "configs_dir",
    "run_studies",
    "technology_overrides",
]

GENERIC, CALIBRATED = "generic45", "calibrated"


@dataclass(frozen=True)
class Study:
    """One sweep of the reproduction."""

    name: str
    kind: str  # "hardware" (hw_images per point, both technologies) or "accuracy"

    @property
    def techs(self) -> tuple[str, ...]:
        return (GENERIC, CALIBRATED) if self.kind == "hardware" else (GENERIC,)


STUDIES: tuple[Study, ...] = (
    Study("table1_binary", "hardware"),
    Study("fig11_dwm_stochastic", "hardware"),
    Study("fig11_sram_stochastic", "hardware"),
    Study("table2_fc2_unshared", "hardware"),
    Study("table2_fc2_shared", "hardware"),
    Study("table3_fc2_length", "accuracy"),
    Study("table3_fc2_length_shared", "accuracy"),
    Study("fig8_conv1", "accuracy"),
    Study("fig8_conv2", "accuracy"),
    Study("fig8_fc1", "accuracy"),
    Study("fig8_fc2", "accuracy"),
    Study("fig8_all", "accuracy"),
)

#: Which studies each output needs (``archsim reproduce dwcnn --only ...``).
OUTPUTS: dict[str, tuple[str, ...]] = {
    "table1": ("table1_binary", "fig11_dwm_stochastic", "fig11_sram_stochastic"),
    "fig11": ("table1_binary", "fig11_dwm_stochastic", "fig11_sram_stochastic"),
    "table2": ("table2_fc2_unshared", "table2_fc2_shared"),
    "table3": ("table3_fc2_length", "table3_fc2_length_shared"),
    "fig8": ("fig8_conv1", "fig8_conv2", "fig8_fc1", "fig8_fc2", "fig8_all"),
}


@dataclass
class Point:
    """A finished design point: its axis values and its ``summary.json``."""

    study: str
    tech: str
    axes: dict[str, Any]
    folder: Path
    summary: dict[str, Any] = field(default_factory=dict)


def technology_overrides(tech_file: str | os.PathLike[str]) -> list[str]:
    """The ``technology.*`` numbers of a technology file as ``--set`` overrides.

    Every leaf ``{value, source}`` becomes ``technology.<path>={"value": ..., "source": ...}``,
    so the run's resolved configuration records the calibrated value with its source.
    """
    path = Path(tech_file)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(str(path), "", str(path), f"a readable technology file ({e})") from None
    tech = raw.get("technology") if isinstance(raw, dict) else None
    if not isinstance(tech, dict):
        raise ConfigError(str(path), "technology", tech, "a mapping of technology numbers")
    out: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and "value" in node:
            out.append(f"{prefix}={json.dumps(node, ensure_ascii=False)}")
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}.{k}")
        elif prefix.count(".") >= 2:  # a bare number: not allowed in a calibrated file
            raise ConfigError(str(path), prefix, node, "{value, source} with a fitted source")

    for k, v in tech.items():
        if k in ("name", "node"):
            out.append(f"technology.{k}={json.dumps(v)}")
        else:
            walk(v, f"technology.{k}")
    return out


def run_studies(names: Iterable[str], out: Path, *, images: int, hw_images: int,
                jobs: int, data_dir: str | None, overrides: list[str],
                tech_file: Path, quiet: bool = False,
                progress: Callable[[str], None] | None = None
                ) -> dict[tuple[str, str], list[Point]]:
    """Run the named studies (both technologies for hardware studies); the finished points.
    ``progress(line)`` gets one line per study as it starts (else it is printed unless
    ``quiet``).

    Raises :class:`ConfigError` on a bad sweep file or override (nothing runs) and
    ``RuntimeError`` naming the failed points when a point fails.
    """
    from archsim.sweep.runner import run_sweep
    from archsim.sweep.spec import load_sweep

    by_name = {s.name: s for s in STUDIES}
    cal = technology_overrides(tech_file)
    plans = []
    for name in names:
        study = by_name[name]
        for tech in study.techs:
            ov = [*overrides, *(cal if tech == CALIBRATED else [])]
            sweep = load_sweep(configs_dir() / "reproduce" / f"{name}.yaml", ov)
            plans.append((study, tech, sweep, ov))
    results: dict[tuple[str, str], list[Point]] = {}
    failures: list[str] = []
    for study, tech, sweep, ov in plans:
        folder = out / "runs" / (study.name if tech == GENERIC else f"{study.name}-{tech}")
        n = hw_images if study.kind == "hardware" else images
        line = f"{folder.name} ({len(sweep.combos)} points, {n} image(s) each)"
        if progress is not None:
            progress(line)
        elif not quiet:
            print(f"archsim: reproduce: {line}", flush=True)
        report = run_sweep(sweep, folder, overrides=ov, images=n, jobs=jobs,
                           data_dir=data_dir, quiet=True)
        pts = []
        for pt in report.points:
            pfolder = folder / "points" / pt.key
            summary_file = pfolder / "summary.json"
            if not summary_file.is_file():
                failures.append(f"{folder.name}/points/{pt.key}: "
                                f"{report.failures.get(pt.key, 'no summary.json')}")
                continue
            with open(summary_file, encoding="utf-8") as f:
                pts.append(Point(study.name, tech, dict(pt.axes), pfolder, json.load(f)))
        results[(study.name, tech)] = pts
    if failures:
        raise RuntimeError("design points failed (see their error.txt):\n  "
                           + "\n  ".join(failures))
    return results
