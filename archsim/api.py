"""The Python API: load a design, run it, sweep it, reproduce a paper, from a script or a
notebook. The ``archsim`` command line calls these same functions.

    import archsim

    design = archsim.load("builtin:dwcnn/lenet5_dwm_sn128_fc-shared_pc_sc.yaml",
                          overrides=["stream.length=256"])
    result = archsim.run(design, images=20)          # a RunResult, what the writers use
    result.to_frame("layers")                        # pandas DataFrame, = layers.csv
    result.accuracy_fraction()

    table = archsim.sweep("builtin:sweeps/small_tiny.yaml", out="traces/sw").to_frame()

Every function takes its inputs as arguments and returns its results: there is no global
state, no cache and no current design, so two designs (or two threads) never see each
other. Progress is reported through callbacks (``progress=``), never printed. Bad input
raises :class:`~archsim.config.errors.ConfigError` (a config) or
:class:`~archsim.nn.errors.DatasetError` (a data set), both naming the file, key, value and
what was expected, before anything is simulated or written. docs/python-api.md is the
tutorial.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archsim.config.schema import DesignConfig
from archsim.engine.results import ImageRecord, RunResult
from archsim.reproduce.tables import Table
from archsim.sweep.runner import SweepReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Design",
    "Reproduction",
    "load",
    "reproduce",
    "run",
    "sweep",
]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Design:
    """A design description that loaded and validated: the configuration of its fabric and
    how it was made (file and overrides), so it can be re-made with more overrides.

    Made by :func:`load`; immutable (:meth:`with_overrides` returns a new one)."""

    config: DesignConfig
    """The validated configuration (``ArchConfig`` for the SC stream fabric)."""
    source: str
    """The file it was loaded from, as given (a path or ``builtin:<name>``)."""
    overrides: tuple[str, ...] = ()
    """The ``key.path=value`` overrides applied, in order."""

    @property
    def name(self) -> str:
        """The design's name (``name:``, default the file stem)."""
        return self.config.name

    @property
    def fabric(self) -> str:
        """The fabric (family of datapaths) the design belongs to."""
        return self.config.fabric

    def with_overrides(self, *overrides: str) -> Design:
        """The same file with more ``key.path=value`` overrides (applied after this one's)."""
        return load(self.source, [*self.overrides, *overrides])

    def check(self, *, images: int | None = None, start: int | None = None,
              data_dir: PathLike | None = None, probes: Sequence[str] = ()) -> None:
        """Every check :func:`run` does (the fabric's mapping, the model, the data set, the
        probes), without simulating; raises what :func:`run` would raise."""
        from archsim.run import prepare_run

        prepare_run(self.config, _options(images, start, data_dir, "fast", 1, probes, 1))

    def resolved(self) -> dict[str, Any]:
        """The full configuration after includes, defaults and overrides (what
        ``config.resolved.yaml`` of a run folder holds)."""
        return self.config.resolved_dict()


def load(config: PathLike | Design, overrides: Sequence[str] = (), *,
         workload: PathLike | None = None, model: str | None = None,
         seed: int | None = None) -> Design:
    """Load and validate a design description.

    ``config``: a YAML path or ``builtin:<path below arch_configs/>`` (a shipped design, e.g.
    ``builtin:dwcnn/small_conv_fc.yaml``). ``overrides``: ``key.path=value`` strings, as
    ``archsim run --set``. ``workload``: a workload file to run instead of the one the
    design names (docs/workloads.md; a path, or ``builtin:workloads/<name>.yaml`` for a
    shipped one); ``model``: the weights (``builtin:<name>`` or an .npz
    path); ``seed``: the run seed. Raises ``ConfigError`` naming file, key, value and what
    was expected.
    """
    from archsim.config import load_config

    if isinstance(config, Design):
        return load(config.source, [*config.overrides, *overrides], workload=workload,
                    model=model, seed=seed)
    ov = [str(o) for o in ([overrides] if isinstance(overrides, str) else overrides)]
    if workload is not None:  # a path, arch_configs/<name> or builtin:<name>: absolute
        from archsim.resources import resolve

        ov.append(f"workload={resolve(workload).resolve()}")
    if model is not None:  # an existing file relative to the working directory: absolute
        weights = model if model.startswith("builtin:") or not Path(model).is_file() else str(
            Path(model).resolve())
        ov.append(f"model.weights={weights}")
    if seed is not None:
        ov.append(f"seed={int(seed)}")
    source = os.fspath(config)
    return Design(load_config(source, ov), source, tuple(ov))


def _options(images: int | None, start: int | None, data_dir: PathLike | None, mode: str,
             jobs: int, probes: Sequence[str], probe_images: int) -> Any:
    from archsim.run import RunOptions

    if mode not in ("fast", "per-cycle"):
        raise ValueError(f"mode(={mode!r}) must be 'fast' or 'per-cycle'")
    if jobs < 1:
        raise ValueError(f"jobs(={jobs}) must be at least 1")
    return RunOptions(images=images, start=start,
                      data_dir=None if data_dir is None else os.fspath(data_dir), mode=mode,
                      probes=tuple(probes), probe_images=probe_images, jobs=jobs)


def run(design: Design | PathLike, *, images: int | None = None, start: int | None = None,
        seed: int | None = None, overrides: Sequence[str] = (), mode: str = "fast",
        jobs: int = 1, data_dir: PathLike | None = None, probes: Sequence[str] = (),
        probe_images: int = 1, progress: Callable[[ImageRecord], None] | None = None,
        out: PathLike | None = None, events: str = "aggregated") -> RunResult:
    """Simulate a design; returns its :class:`~archsim.engine.results.RunResult`.

    ``design``: a :class:`Design` or anything :func:`load` takes (``overrides`` and ``seed``
    are applied on top). ``images``/``start`` replace the design's ``dataset.images`` /
    ``dataset.start``; ``mode`` is ``"fast"`` or ``"per-cycle"`` (the per-cycle reference
    engine, small designs); ``jobs`` image-parallel worker processes (results do not depend
    on it); ``data_dir`` the folder with ``mnist/`` and ``fashion-mnist/`` (default
    ``$ARCHSIM_DATA``, then the 500-image subsets shipped with the package); ``probes``
    waveform signals. ``progress(record)`` is called once per image with its
    :class:`~archsim.engine.results.ImageRecord` (label, prediction, latency), in image order.

    ``out``: also write the run folder there (every file of ``archsim run``, ``events``
    granularity ``"aggregated"`` or ``"per-action"``), as ``archsim run --out`` does: the
    folder is checked before simulating (absent, empty or an earlier run folder:
    :class:`~archsim.outputs.run_folder.OutputFolderError` otherwise) and replaced as a whole
    once every file is written, so an error or Ctrl-C leaves it as it was.

    The result's tables: ``result.to_frame("layers" | "blocks" | "events" | "accuracy")``;
    totals: ``result.cycles``, ``result.energy_pj()``, ``result.area_um2()``,
    ``result.power_mw()``, ``result.accuracy_fraction()``.
    """
    from archsim.outputs.run_folder import check_output_folder, write_run_folder
    from archsim.run import prepare_run, run_config

    if not isinstance(design, Design) or overrides or seed is not None:
        design = load(design, overrides, seed=seed)
    opts = _options(images, start, data_dir, mode, jobs, probes, probe_images)
    prepared = prepare_run(design.config, opts)  # every check before the folder is touched
    if out is not None:
        check_output_folder(Path(out))
    result, _ = run_config(design.config, opts, progress, prepared=prepared)
    if out is not None:
        write_run_folder(result, Path(out), events=events, config_name=design.name)
    return result


def sweep(sweep_file: PathLike, out: PathLike | None = None, *,
          overrides: Sequence[str] = (), images: int | None = None, seed: int | None = None,
          jobs: int | None = 1, backend: str = "local", scheduler: str | None = None,
          data_dir: PathLike | None = None, mode: str = "fast", dashboard: bool = False,
          progress: Callable[[dict[str, Any]], None] | None = None) -> SweepReport:
    """Run a design-space sweep (docs/sweeps.md); returns its
    :class:`~archsim.sweep.runner.SweepReport`, whose ``to_frame()`` is the results table
    (one row per point: axis values, cycles, energy, area, accuracy, ...).

    ``sweep_file``: a sweep YAML (a path or ``builtin:sweeps/<name>``). ``out``: the sweep
    folder (default ``traces/sweeps/<name>``); finished points in it are reused, so an
    interrupted sweep resumes. ``overrides`` apply to every point; ``images`` and ``seed``
    replace the sweep file's; ``jobs`` parallel points (``None``: all CPUs); ``backend``
    ``"local"``, ``"dask"`` or ``"ray"`` (``dashboard``: its web dashboard).
    ``progress(status)`` is called as each point finishes, with
    ``{"key", "status", "wall_s", "error", "cached"}``.
    """
    from archsim.sweep.runner import run_sweep
    from archsim.sweep.spec import load_sweep

    ov = [str(o) for o in overrides]
    spec = load_sweep(sweep_file, ov)
    folder = Path(out) if out is not None else Path("traces") / "sweeps" / spec.name
    return run_sweep(spec, folder, overrides=ov, images=images, seed=seed, jobs=jobs,
                     backend=backend, scheduler=scheduler,
                     data_dir=None if data_dir is None else os.fspath(data_dir), mode=mode,
                     quiet=True, dashboard=dashboard, progress=progress)


@dataclass
class Reproduction:
    """What :func:`reproduce` made: the folder, the paper-vs-ours tables by name
    (``"table1"``, ``"table2"``, ``"table3"``, ``"claims"``, with ``_calibrated`` variants),
    the finished design points of each study and the files written."""

    out: Path
    tables: dict[str, Table] = field(default_factory=dict)
    points: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    wall_s: float = 0.0
    results: dict[str, Any] = field(default_factory=dict)
    """The reproduction's ``results.json`` (the papers other than ``dwcnn``), else empty."""

    def table_names(self) -> list[str]:
        """The tables :meth:`to_frame` can give: those made in this process and the CSV files
        under ``out/tables/``."""
        on_disk = {p.stem for p in (self.out / "tables").glob("*.csv")}
        return sorted(set(self.tables) | on_disk)

    def to_frame(self, table: str) -> pd.DataFrame:
        """One table as a DataFrame. DW-CNN: label columns, then ``<q> paper``, ``<q> ours``,
        ``<q> ratio`` per quantity (as ``tables/<table>.csv``); the other papers: their
        ``tables/<table>.csv`` as written."""
        if table in self.tables:
            return self.tables[table].to_frame()
        path = self.out / "tables" / f"{table}.csv"
        if not path.is_file():
            raise KeyError(f"no table {table!r} in this reproduction; it has "
                           f"{self.table_names()}")
        import pandas as pd

        return pd.read_csv(path)


def reproduce(paper: str = "dwcnn", out: PathLike | None = None, *,
              only: Iterable[str] | None = None, images: int = 200, hw_images: int = 10,
              jobs: int = 1, tech: PathLike | None = None, overrides: Sequence[str] = (),
              data_dir: PathLike | None = None,
              progress: Callable[[str], None] | None = None) -> Reproduction:
    """Re-run a paper's design points and write its tables and figures beside the paper's
    numbers; returns a :class:`Reproduction`.

    ``paper``: a name of :data:`archsim.reproduce.papers.PAPERS` (``"dwcnn"``, ``"imce"``,
    ``"scbnn"``, ``"pim-admm"``; each compared in its ``docs/reproducing-<paper>.md``). The
    papers other than DW-CNN run their ``archsim reproduce <paper>`` command with these
    arguments (``only``, ``images``, ``hw_images``, ``jobs``, ``overrides``, ``data_dir`` as
    its options ``--only``, ``--images``, ...) and return its ``results.json`` and tables.
    DW-CNN: ``only``: outputs to make (``table1``, ``table2``, ``table3``,
    ``fig8``, ``fig11``; default all). ``images``: MNIST test images per accuracy point;
    ``hw_images``: images per area/power point; ``jobs``: parallel design points; ``tech``:
    the calibrated technology file (default the shipped one); ``overrides`` apply to every
    point. ``progress(line)`` gets one line as each study starts. Finished points in
    ``out`` (default ``traces/reproduce/<paper>``) are reused. Raises ``ConfigError`` /
    ``DatasetError`` on bad input (nothing runs), ``ValueError`` on a bad argument,
    ``FileNotFoundError`` for a missing ``tech`` file, ``RuntimeError`` naming the design
    points that failed.
    """
    from archsim.nn.datasets import load_dataset
    from archsim.reproduce.main import write_outputs
    from archsim.reproduce.papers import PAPERS
    from archsim.reproduce.studies import OUTPUTS, STUDIES, configs_dir, run_studies
    from archsim.resources import resolve

    if paper not in PAPERS:
        raise ValueError(f"paper(={paper!r}) must be one of {', '.join(PAPERS)} (the papers "
                         "archsim reproduces)")
    for name, val in (("images", images), ("hw_images", hw_images), ("jobs", jobs)):
        if val < 1:
            raise ValueError(f"{name}(={val}) must be at least 1")
    if paper != "dwcnn":
        return _reproduce_command(paper, out, only=only, images=images, hw_images=hw_images,
                                  jobs=jobs, tech=tech, overrides=overrides, data_dir=data_dir)
    wanted_outputs = list(dict.fromkeys(only if only is not None else OUTPUTS))
    bad = [o for o in wanted_outputs if o not in OUTPUTS]
    if bad:
        raise ValueError(f"only: {bad[0]!r} is not one of {', '.join(OUTPUTS)}")
    tech_file = resolve(tech) if tech is not None else (
        configs_dir() / "tech" / "dwcnn_calibrated.yaml")
    if not tech_file.is_file():
        raise FileNotFoundError(f"{tech_file}: calibrated technology file not found")
    dd = None if data_dir is None else os.fspath(data_dir)
    load_dataset("mnist", split="test", data_dir=dd, start=0, count=images)  # DatasetError
    wanted = {s for o in wanted_outputs for s in OUTPUTS[o]}
    names = [s.name for s in STUDIES if s.name in wanted]
    folder = Path(out) if out is not None else Path("traces") / "reproduce" / paper
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    points = run_studies(names, folder, images=images, hw_images=hw_images, jobs=jobs,
                         data_dir=dd, overrides=[str(o) for o in overrides],
                         tech_file=tech_file, progress=progress)
    wall = time.perf_counter() - t0
    tables: dict[str, Table] = {}
    written = write_outputs(points, folder, tech_file, wall, tables=tables)
    return Reproduction(folder, tables, points, written, wall)


def _reproduce_command(paper: str, out: PathLike | None, *, only: Iterable[str] | None,
                       images: int, hw_images: int, jobs: int, tech: PathLike | None,
                       overrides: Sequence[str], data_dir: PathLike | None) -> Reproduction:
    """A paper's ``archsim reproduce <paper>`` command, called with these arguments parsed as
    the command line parses them (so the options mean exactly what they mean there)."""
    import json

    from archsim.cli import _parser
    from archsim.reproduce.papers import PAPERS

    folder = Path(out) if out is not None else Path("traces") / "reproduce" / paper
    argv = ["reproduce", paper, "--out", os.fspath(folder), "--images", str(images),
            "--hw-images", str(hw_images), "--jobs", str(jobs), "--quiet"]
    for o in only or ():
        argv += ["--only", str(o)]
    if tech is not None:
        argv += ["--tech", os.fspath(tech)]
    for ov in overrides:
        argv += ["--set", str(ov)]
    if data_dir is not None:
        argv += ["--data-dir", os.fspath(data_dir)]
    args = _parser().parse_args(argv)
    t0 = time.perf_counter()
    code = PAPERS[paper].command()(args)
    wall = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"archsim reproduce {paper} failed (exit {code}); see its messages")
    results_file = folder / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8")) \
        if results_file.is_file() else {}
    written = sorted(p for p in folder.rglob("*") if p.is_file())
    return Reproduction(folder, {}, {}, written, wall, results)
