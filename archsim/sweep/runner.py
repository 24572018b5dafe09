"""Running a sweep: expand the points, run the unfinished ones, tabulate every point.

Each point is the base description with one override per axis (plus the sweep-wide
overrides).  Its key is the first 16 hex digits of the SHA-256 of the resolved configuration
after the overrides, the seed, the image count and the inputs' fingerprint (the model file's
and the data files' content hashes and the archsim version, :mod:`archsim.sweep.fingerprint`),
so the same design point always lands in the same folder ``<out>/points/<key>/`` (a normal run
folder, plus ``point.json``) and a changed model, data set or archsim is a new point.  A point
whose folder is complete (``summary.json``, no ``INCOMPLETE`` marker) is skipped, which makes
an interrupted sweep resumable; a point that raises, or whose worker process dies, gets
``error.txt`` and the others go on.

One sweep at a time writes into a folder (:func:`archsim.sweep.folder.sweep_lock`), and only
after every point has passed every check.  Backends: ``local`` (one forked child per point,
at most ``jobs`` at once, that dies with this process, :func:`archsim.children.run_isolated`;
``jobs`` 1 runs in this process), ``dask`` (``dask.distributed``: the scheduler at
``scheduler`` or a ``LocalCluster`` on 127.0.0.1 without a dashboard) and ``ray`` (a local
instance on 127.0.0.1, or the cluster at ``scheduler``).  Neither remote scheduler is
authenticated (docs/sweeps.md).  At the end, and also after Ctrl-C, SIGTERM or an error,
``<out>/results.csv`` and ``<out>/results.parquet`` are rebuilt from the point folders' real
state, one row per point, each replaced atomically.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from archsim.config.errors import ConfigError
from archsim.outputs.atomic import atomic_open, atomic_path, json_ready, write_json, write_text
from archsim.outputs.run_folder import OutputFolderError, is_complete_run_folder
from archsim.run import RunOptions, run_config
from archsim.sweep.fingerprint import inputs_fingerprint
from archsim.sweep.folder import (
    ERROR_TXT,
    SweepLocked,
    point_state,
    remove_stale_temporaries,
    sweep_lock,
    write_error,
)
from archsim.sweep.spec import Sweep, override_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BACKENDS",
    "Point",
    "SweepReport",
    "expand_points",
    "run_point",
    "run_sweep",
    "sweep_main",
]

BACKENDS = ("local", "dask", "ray")
#: Columns that depend on the invocation, not on the design point.
TIMING_COLUMNS = ("cached", "wall_s")
POINT_JSON = "point.json"

#: The simulation entry point the workers call (tests replace it).
_RUN: Callable[..., Any] = run_config


@dataclass
class Point:
    """One design point of a sweep."""

    index: int
    axes: dict[str, Any]
    overrides: list[str]
    key: str
    seed: int | None = None
    images: int | None = None
    error: str | None = None
    """Set when the point's configuration is invalid (the combination of axis values)."""


@dataclass
class SweepReport:
    out: Path
    points: list[Point]
    rows: list[dict[str, Any]]
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        return f"done {self.done}, skipped {self.skipped}, failed {self.failed}"

    def to_frame(self) -> pd.DataFrame:
        """The results table as a pandas DataFrame: one row per point, the columns of
        ``results.csv`` (key, status, the axis values, seed, images, every scalar of the
        point's ``summary.json``, cached, wall_s, error), with their Python types."""
        import pandas as pd

        cols = _columns(self.rows)
        return pd.DataFrame([[r.get(c) for c in cols] for r in self.rows], columns=cols)

    def to_pandas(self) -> pd.DataFrame:
        """Same as :meth:`to_frame`."""
        return self.to_frame()


def _hash(obj: Any) -> str:
    text = json.dumps(json_ready(obj), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def expand_points(sweep: Sweep, overrides: Iterable[str] = (), *, images: int | None = None,
                  seed: int | None = None, data_dir: str | None = None,
                  check: bool = False) -> list[Point]:
    """The points of ``sweep``: overrides, seed, images and key of each.

    ``overrides`` apply to every point; ``images`` and ``seed`` (command line) replace the
    sweep file's.  An invalid combination becomes a point with ``error`` set; with ``check``
    every point also goes through every check a run does (``archsim.run.prepare_run``:
    the fabric's mapping, the model, the data set, the probes), before any folder is made.
    Two points with the same key are a :class:`ConfigError` naming the sweep file.
    """
    from archsim.config import load_config
    from archsim.nn.errors import DatasetError
    from archsim.run import prepare_run

    common = list(overrides)
    policy: int | str = seed if seed is not None else sweep.spec.seed
    n_images = images if images is not None else sweep.spec.images
    points: list[Point] = []
    seen: dict[str, int] = {}
    digests: dict[tuple[str, int, int], str] = {}
    for i, combo in enumerate(sweep.combos):
        ov = common + [override_text(k, v) for k, v in combo.items()]
        if isinstance(policy, int) and not isinstance(policy, bool):
            ov.append(f"seed={policy}")
        try:
            cfg = load_config(sweep.base, ov)
            if policy == "per-point":
                d = cfg.resolved_dict()
                d.pop("seed", None)
                h = _hash({"config": d, "images": n_images})
                ov.append(f"seed={int(h[:8], 16) & 0x7FFFFFFF}")
                cfg = load_config(sweep.base, ov)
        except ConfigError as e:
            key = _hash({"base": str(sweep.base), "overrides": ov, "images": n_images})[:16]
            points.append(Point(i, combo, ov, key, images=n_images, error=str(e)))
            continue
        count = n_images if n_images is not None else cfg.dataset.images
        key = _hash({"config": cfg.resolved_dict(), "seed": cfg.seed, "images": count,
                     "inputs": inputs_fingerprint(cfg, data_dir, digests)})[:16]
        if check:
            try:
                prepare_run(cfg, RunOptions(images=count, data_dir=data_dir))
            except (ConfigError, DatasetError) as e:
                points.append(Point(i, combo, ov, key, seed=cfg.seed, images=count,
                                    error=str(e)))
                continue
        if key in seen:
            raise ConfigError(str(sweep.path), "axes", combo,
                              f"distinct design points (point {i} repeats point {seen[key]})")
        seen[key] = i
        points.append(Point(i, combo, ov, key, seed=cfg.seed, images=count))
    return points


# --------------------------------------------------------------------------------------------
# one point (runs in a worker)
# --------------------------------------------------------------------------------------------


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Run one point into its folder; never raises an ``Exception`` (a failure is written to
    ``error.txt``).  The run is written into a temporary folder swapped in at the end
    (:func:`archsim.outputs.run_folder.write_run_folder`)."""
    from archsim.config import load_config
    from archsim.outputs.run_folder import write_run_folder

    folder = Path(task["folder"])
    t0 = time.perf_counter()
    info = {k: task[k] for k in ("key", "axes", "overrides", "seed", "images")}
    try:
        if (folder / ERROR_TXT).exists():  # an earlier failure of this point: retried now
            (folder / ERROR_TXT).unlink()
            (folder / POINT_JSON).unlink(missing_ok=True)
        cfg = load_config(task["base"], task["overrides"])
        opts = RunOptions(images=task["images"], data_dir=task.get("data_dir"),
                          mode=task.get("mode", "fast"))
        result, _ = _RUN(cfg, opts)
        write_run_folder(result, folder, config_name=cfg.name)
        wall = time.perf_counter() - t0
        write_json(folder / POINT_JSON, {**info, "wall_s": wall})
        return {"key": task["key"], "status": "ok", "wall_s": wall, "error": None}
    except Exception as e:  # noqa: BLE001 - a failed point must not stop the sweep
        wall = time.perf_counter() - t0
        write_error(folder, traceback.format_exc())
        with contextlib.suppress(OSError):
            write_json(folder / POINT_JSON, {**info, "wall_s": wall})
        return {"key": task["key"], "status": "failed", "wall_s": wall,
                "error": _reason(e)}


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        where = f" ({e.filename})" if e.filename else ""
        return f"{type(e).__name__}: {e.strerror}{where}"
    return f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------------------------
# backends: each yields the result dicts of run_point as the points finish
# --------------------------------------------------------------------------------------------


def _local(tasks: list[dict[str, Any]], jobs: int, scheduler: str | None,
           dashboard: bool = False) -> Generator[dict, None, None]:
    if jobs <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield run_point(t)
        return
    from archsim.children import run_isolated

    with contextlib.closing(run_isolated(run_point, tasks, jobs)) as results:
        for i, status, value in results:
            if status == "ok":
                yield value
                continue
            task = tasks[i]
            reason = value if status == "died" else value.splitlines()[0]
            write_error(Path(task["folder"]), f"{reason}\n" if status == "died" else value)
            yield {"key": task["key"], "status": "failed", "wall_s": None, "error": reason}


def dask_cluster(jobs: int, dashboard: bool = False):
    """A ``LocalCluster`` of ``jobs`` single-thread worker processes bound to 127.0.0.1: the
    scheduler on a free port, no dashboard unless ``dashboard`` (then 127.0.0.1:8787), and its
    HTTP endpoint (health, metrics) on a free loopback port rather than the fixed 8787."""
    from dask.distributed import LocalCluster

    http = "127.0.0.1:8787" if dashboard else "127.0.0.1:0"
    return LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                        host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                        scheduler_kwargs={"dashboard": dashboard, "dashboard_address": http})


def _dask(tasks: list[dict[str, Any]], jobs: int, scheduler: str | None,
          dashboard: bool = False) -> Generator[dict, None, None]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise RuntimeError("the dask backend needs dask.distributed: "
                           "pip install 'archsim[dask]' (or \"dask[distributed]\")") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = dask_cluster(jobs, dashboard)
        client = Client(cluster)
    futures = []
    try:
        futures = client.map(run_point, tasks, pure=False)
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        with contextlib.suppress(Exception):  # queued points are cancelled, not run
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()


def ray_init_kwargs(jobs: int, scheduler: str | None, dashboard: bool = False
                    ) -> dict[str, Any]:
    """``ray.init`` arguments: the cluster at ``scheduler``, else a local instance (its node
    kept on 127.0.0.1 by :func:`_ray_loopback`), dashboard only if asked, on 127.0.0.1."""
    if scheduler:
        return {"address": scheduler}
    kw: dict[str, Any] = {"num_cpus": max(1, jobs), "include_dashboard": dashboard,
                          "_node_ip_address": "127.0.0.1"}
    if dashboard:
        kw["dashboard_host"] = "127.0.0.1"
    return kw


#: Ray registers a local node on the host's routable address unless "clusters" are off, as it
#: has them on macOS and Windows; off, the node, its GCS and its raylet stay on 127.0.0.1
_RAY_LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _ray_loopback(ray: Any) -> None:
    """Keep a local Ray instance started from here on the loopback address."""
    os.environ[_RAY_LOCAL_ONLY_ENV] = "0"  # the processes Ray starts read it too
    consts = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if consts is not None and hasattr(consts, "ENABLE_RAY_CLUSTER"):
        consts.ENABLE_RAY_CLUSTER = False  # read when ray.init picks the node address


def _ray(tasks: list[dict[str, Any]], jobs: int, scheduler: str | None,
         dashboard: bool = False) -> Generator[dict, None, None]:
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray backend needs ray: pip install 'archsim[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if not scheduler:
            _ray_loopback(ray)
        ray.init(**ray_init_kwargs(jobs, scheduler, dashboard))
    pending: list[Any] = []
    try:
        remote = ray.remote(num_cpus=1)(run_point)
        pending = [remote.remote(t) for t in tasks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        for ref in pending:  # queued points are cancelled, not run
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


_BACKENDS = {"local": _local, "dask": _dask, "ray": _ray}


# --------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="pt", desc="sweep", file=sys.stderr,
                disable=quiet or not sys.stderr.isatty())


def run_sweep(sweep: Sweep, out: str | os.PathLike[str], *, overrides: Iterable[str] = (),
              images: int | None = None, seed: int | None = None, jobs: int | None = None,
              backend: str = "local", scheduler: str | None = None,
              data_dir: str | None = None, mode: str = "fast", quiet: bool = False,
              dashboard: bool = False,
              progress: Callable[[dict[str, Any]], None] | None = None) -> SweepReport:
    """Run every unfinished point of ``sweep`` into ``out`` and write the results tables.

    ``progress(status)`` is called as each point finishes (and once per point found
    finished in ``out``), with ``{"key", "status", "wall_s", "error", "cached"}``.

    Raises :class:`~archsim.sweep.folder.SweepLocked` if another sweep writes into ``out``;
    on any exception (Ctrl-C and SIGTERM included) the queued points are cancelled, the
    running ones stopped, and the tables are still rebuilt from the point folders.
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend(={backend!r}) must be one of {BACKENDS}")
    jobs = jobs or os.cpu_count() or 1
    out = Path(out)
    points = expand_points(sweep, overrides, images=images, seed=seed, data_dir=data_dir,
                           check=True)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputFolderError(f"{out}: is not a folder; choose another --out")
    with sweep_lock(out):
        return _run_locked(sweep, out, points, overrides=list(overrides), images=images,
                           seed=seed, jobs=jobs, backend=backend, scheduler=scheduler,
                           data_dir=data_dir, mode=mode, quiet=quiet, dashboard=dashboard,
                           progress=progress)


def _run_locked(sweep: Sweep, out: Path, points: list[Point], *, overrides: list[str],
                images: int | None, seed: int | None, jobs: int, backend: str,
                scheduler: str | None, data_dir: str | None, mode: str, quiet: bool,
                dashboard: bool,
                progress: Callable[[dict[str, Any]], None] | None = None) -> SweepReport:
    remove_stale_temporaries(out / "points")  # left by a killed sweep; we hold the lock
    (out / "points").mkdir(parents=True, exist_ok=True)
    write_text(out / "sweep.yaml", yaml.safe_dump(
        json_ready({"name": sweep.name, "sweep_file": str(sweep.path), "base": str(sweep.base),
                    "mode": sweep.spec.mode, "axes": sweep.spec.axes,
                    "overrides": overrides, "images": images, "seed": seed}),
        sort_keys=False))
    report = SweepReport(out=out, points=points, rows=[])
    status: dict[str, dict[str, Any]] = {}
    cached: set[str] = set()
    tasks = []
    for pt in points:
        folder = out / "points" / pt.key
        if pt.error is not None:
            write_error(folder, f"invalid configuration for this point:\n{pt.error}\n")
            status[pt.key] = {"status": "failed", "wall_s": 0.0, "error": pt.error}
        elif is_complete_run_folder(folder):
            cached.add(pt.key)
            if progress is not None:
                progress({"key": pt.key, "status": "ok", "wall_s": None, "error": None,
                          "cached": True})
        else:
            tasks.append({"key": pt.key, "axes": pt.axes, "overrides": pt.overrides,
                          "seed": pt.seed, "images": pt.images, "folder": str(folder),
                          "base": str(sweep.base), "data_dir": data_dir, "mode": mode})
    report.skipped = len(cached)
    bar = _progress(len(points), quiet)
    bar.update(len(points) - len(tasks))
    stopped: BaseException | None = None
    try:
        if tasks:
            results = _BACKENDS[backend](tasks, jobs, scheduler, dashboard)
            with contextlib.closing(results):  # closing cancels queued points, stops running
                for res in results:
                    status[res["key"]] = res
                    bar.update(1)
                    if progress is not None:
                        progress({**res, "cached": False})
    except BaseException as e:
        stopped = e
        raise
    finally:
        bar.close()
        remove_stale_temporaries(out / "points")  # of the points stopped above
        # the table says what the folders hold, whatever happened above
        report.rows = [_row(pt, out / "points" / pt.key, status.get(pt.key),
                            pt.key in cached) for pt in points]
        ran = {t["key"] for t in tasks}
        report.done = sum(r["status"] == "ok" and r["key"] in ran for r in report.rows)
        report.failed = sum(r["status"] == "failed" for r in report.rows)
        report.failures = {r["key"]: r["error"] or "failed" for r in report.rows
                           if r["status"] == "failed"}
        try:
            write_results(report.rows, out)
        except OSError as e:
            if stopped is None:
                raise
            print(f"archsim: warning: results.csv not rewritten ({_reason(e)}); the point "
                  "folders are the record", file=sys.stderr)
    return report


def _scalar_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for k, v in summary.items():
        if v is None or isinstance(v, (bool, int, float, str)):
            if k not in ("archsim_version", "events_granularity"):
                row[k] = v
        elif isinstance(v, dict) and k == "accuracy_detail":
            for k2, v2 in v.items():
                if v2 is None or isinstance(v2, (bool, int, float, str)):
                    row[f"{k}.{k2}"] = v2
    return row


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return yaml.safe_dump(json_ready(value), default_flow_style=True, width=10**9,
                          sort_keys=False).strip()


def _error_line(folder: Path) -> str | None:
    try:
        lines = (folder / ERROR_TXT).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    lines = [ln for ln in lines if ln.strip()]
    return lines[-1].strip() if lines else None


def _row(pt: Point, folder: Path, st: dict[str, Any] | None, cached: bool) -> dict[str, Any]:
    """The point's row; its status is the folder's state (:func:`point_state`)."""
    st = st or {}
    state = point_state(folder)
    row: dict[str, Any] = {"key": pt.key, "status": state}
    row.update({k: _cell(v) for k, v in pt.axes.items()})
    row["seed"], row["images"] = pt.seed, pt.images
    if state == "ok":
        with contextlib.suppress(OSError, ValueError):
            with open(folder / "summary.json", encoding="utf-8") as f:
                row.update({k: v for k, v in _scalar_metrics(json.load(f)).items()
                            if k not in row})
    wall = st.get("wall_s")
    if wall is None and (folder / POINT_JSON).is_file():
        with contextlib.suppress(OSError, ValueError):
            with open(folder / POINT_JSON, encoding="utf-8") as f:
                wall = json.load(f).get("wall_s")
    row["cached"] = cached and state == "ok"
    row["wall_s"] = wall
    error = None
    if state == "failed":
        error = st.get("error") or pt.error or _error_line(folder)
    row["error"] = error
    return row


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(k for k in r if k not in ("cached", "wall_s", "error")))
    return [*cols, "cached", "wall_s", "error"]


def write_results(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """``results.csv`` and ``results.parquet`` (atomically), one row per point."""
    cols = _columns(rows)
    with atomic_open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: ("" if r.get(c) is None else r[c]) for c in cols})
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for c in cols:
        vals = [r.get(c) for r in rows]
        present = [v for v in vals if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            typ = pa.bool_()
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            typ = pa.int64()
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                             for v in present):
            typ = pa.float64()
            vals = [None if v is None else float(v) for v in vals]
        else:
            typ = pa.string()
            vals = [None if v is None else str(v) for v in vals]
        arrays[c] = pa.array(vals, type=typ)
    table = pa.table(arrays)
    with atomic_path(out / "results.parquet") as tmp:
        pq.write_table(table, tmp)
    return [out / "results.csv", out / "results.parquet"]


def read_results(out: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of ``<out>/results.csv`` as strings."""
    with open(Path(out) / "results.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------------
# archsim sweep
# --------------------------------------------------------------------------------------------


def sweep_main(args: Any) -> int:
    """``archsim sweep`` (``args`` from the CLI parser).

    Exit codes: 0 every point finished, 1 some points failed (``points/<key>/error.txt``) or
    the sweep folder could not be written, 2 bad sweep file or arguments, or the folder is in
    use by another sweep (nothing runs), 130 interrupted (143 on SIGTERM).
    """
    from archsim.api import sweep as api_sweep
    from archsim.children import Terminated
    from archsim.config.errors import ConfigError
    from archsim.sweep.spec import load_sweep

    if args.jobs is not None and args.jobs < 1:
        print("archsim: error: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.images is not None and args.images < 1:
        print("archsim: error: --images must be at least 1", file=sys.stderr)
        return 2
    overrides = list(args.set)
    try:
        sweep = load_sweep(args.sweep, overrides)
    except ConfigError as e:
        print(f"archsim: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("traces") / "sweeps" / sweep.name
    bar = _progress(len(sweep.combos), args.quiet)
    try:
        report = api_sweep(args.sweep, out, overrides=overrides, images=args.images,
                           seed=args.seed, jobs=args.jobs, backend=args.backend,
                           scheduler=args.scheduler, data_dir=args.data_dir, mode=args.mode,
                           dashboard=getattr(args, "dashboard", False),
                           progress=lambda _status: bar.update(1))
    except (ConfigError, SweepLocked, OutputFolderError) as e:
        print(f"archsim: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # a backend that is not installed
        print(f"archsim: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the sweep folder cannot be written (a full disk)
        print(f"archsim: error: cannot write the sweep folder {out} ({_reason(e)}); the "
              "finished points and the previous results.csv are kept", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        why = str(e) if isinstance(e, Terminated) else "interrupted"
        print(f"archsim: {why}; queued points cancelled, finished points stay in "
              f"{out}/points and {out}/results.csv lists them; re-run to resume",
              file=sys.stderr)
        return 128 + e.signum if isinstance(e, Terminated) else 130
    finally:
        bar.close()
    for key, err in report.failures.items():
        print(f"archsim: point {key} failed: {err}", file=sys.stderr)
    if any(r.get("status") == "ok" for r in report.rows):
        from archsim.report import write_report

        write_report(out)
    print(f"{out}: results.csv, results.parquet, report.html ({len(report.points)} points)")
    print(report.line())
    return 1 if report.failed else 0
