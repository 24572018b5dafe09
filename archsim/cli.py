"""The ``archsim`` command line.

    archsim run CONFIG [--images N] [--start K] [--seed S] [--out DIR] [--set key.path=value ...]
                       [--mode fast|per-cycle] [--data-dir DIR] [--quiet]
    archsim validate CONFIG [--set ...]
    archsim plot RUN_DIR|SWEEP_DIR [...] [--format png|svg|pdf]
    archsim sweep SWEEP.yaml [--jobs N] [--backend local|dask|ray] [--scheduler ADDRESS]
                             [--out DIR] [--images N] [--seed S] [--set ...] [--data-dir DIR]
    archsim data fetch mnist|fashion-mnist [--dir DIR] [--base-url URL]
    archsim reproduce dwcnn [--images N] [--hw-images N] [--out DIR] [--jobs N]
                            [--only table1|table2|table3|fig8|fig11 ...] [--data-dir DIR]
    archsim --version

Exit codes: 0 success, 2 bad input (config, data, arguments), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from archsim import __version__

EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="archsim",
        description="Cycle-accurate simulator of stochastic-computing and spintronic-memory "
        "DNN accelerators.",
    )
    p.add_argument("--version", action="version", version=f"archsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate an architecture description")
    r.add_argument("config", help="YAML architecture description (a path, or builtin:<name> "
                   "for a shipped one, e.g. builtin:dwcnn/small_conv_fc.yaml)")
    r.add_argument("--images", type=int, help="number of images (overrides dataset.images)")
    r.add_argument("--start", type=int, help="index of the first image (dataset.start)")
    r.add_argument("--seed", type=int, help="run seed (overrides seed)")
    r.add_argument("--out", help="output folder (default traces/<config>-<timestamp>)")
    r.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config value, e.g. --set stream.length=256")
    r.add_argument("--mode", choices=("fast", "per-cycle"), default="fast",
                   help="fast (packed kernels) or the per-cycle reference (small configs)")
    r.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/ (or ARCHSIM_DATA)")
    r.add_argument("--events", choices=("aggregated", "per-action"), default="aggregated",
                   help="event log granularity")
    r.add_argument("--probe", action="append", default=[], metavar="SIGNAL",
                   help="waveform probe for waves.vcd, e.g. fc1.mux.select, conv1.apc.count[0], "
                   "fc1.btanh.state[3] (see archsim/fabrics/sc_stream/probes.py)")
    r.add_argument("--probe-images", type=int, default=1,
                   help="probe the first N images (default 1)")
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="image-parallel worker processes (default: all cores); results do not "
                   "depend on it")
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    v = sub.add_parser("validate", help="check a design description: every check 'run' does "
                       "(mapping, model, data set, probes), without simulating")
    v.add_argument("config", help="YAML design description (a path or builtin:<name>)")
    v.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    v.add_argument("--images", type=int, default=None, help="as for run")
    v.add_argument("--start", type=int, default=None, help="as for run")
    v.add_argument("--data-dir", default=None, help="as for run")
    v.add_argument("--probe", action="append", default=[], metavar="SIGNAL", help="as for run")

    pl = sub.add_parser("plot", help="draw the figures of run folders")
    pl.add_argument("run_dirs", nargs="+")
    pl.add_argument("--format", choices=("png", "svg", "pdf"), default="png")

    sw = sub.add_parser("sweep", help="run a design-space sweep (docs/sweeps.md)")
    sw.add_argument("sweep", help="YAML sweep file (a path, or builtin:sweeps/<name>)")
    sw.add_argument("--jobs", type=int, default=None, help="parallel points (default: CPUs)")
    sw.add_argument("--backend", choices=("local", "dask", "ray"), default="local")
    sw.add_argument("--scheduler", help="dask scheduler / ray cluster address")
    sw.add_argument("--out", help="sweep folder (default traces/sweeps/<name>)")
    sw.add_argument("--images", type=int, help="images per point (overrides the sweep file)")
    sw.add_argument("--seed", type=int, help="one seed for every point (overrides the policy)")
    sw.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                    help="override applied to every point")
    sw.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/")
    sw.add_argument("--mode", choices=("fast", "per-cycle"), default="fast")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")

    rp = sub.add_parser("reproduce", help="re-run a paper's design points and write its tables "
                        "and figures beside the paper's numbers (docs/reproducing-dwcnn.md)")
    rp.add_argument("paper", choices=("dwcnn",), help="the paper: dwcnn (DW-CNN, seed 001)")
    rp.add_argument("--images", type=int, default=200,
                    help="MNIST test images per accuracy point (default 200)")
    rp.add_argument("--hw-images", type=int, default=10,
                    help="images per area/power point (default 10: costs per image do not "
                    "depend on the images; binary weights' one-time load is amortised over them)")
    rp.add_argument("--out", help="output folder (default traces/reproduce/dwcnn)")
    rp.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="parallel design points (default: all cores)")
    rp.add_argument("--only", action="append", metavar="OUTPUT",
                    help="only this table/figure (table1, table2, table3, fig8, fig11); "
                    "repeatable")
    rp.add_argument("--tech", help="calibrated technology file (default the shipped "
                    "builtin:tech/dwcnn_calibrated.yaml)")
    rp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                    help="override applied to every design point")
    rp.add_argument("--data-dir", help="folder with mnist/ (or ARCHSIM_DATA)")
    rp.add_argument("--quiet", action="store_true", help="no progress lines")

    d = sub.add_parser("data", help="data sets")
    dsub = d.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download and verify an official data set")
    f.add_argument("name", choices=("mnist", "fashion-mnist"))
    f.add_argument("--dir", default=None, help="destination (default $ARCHSIM_DATA or ./data)")
    f.add_argument("--base-url", default=None, help="mirror to download from")
    return p


def _error(msg: str) -> int:
    print(f"archsim: error: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _load(path: str, overrides: list[str], seed: int | None = None):
    from archsim.config import load_config

    ov = list(overrides)
    if seed is not None:
        ov.append(f"seed={seed}")
    return load_config(path, ov)


def cmd_run(args: argparse.Namespace) -> int:
    """``archsim run``: :func:`archsim.api.load` and :func:`archsim.api.run` with a run folder,
    a progress bar and the console summary."""
    from archsim.api import RunInterrupted, load, run
    from archsim.config.errors import ConfigError
    from archsim.nn.errors import DatasetError

    try:  # every check before the run folder is touched (run() checks the rest first)
        design = load(args.config, args.set, seed=args.seed)
    except (ConfigError, DatasetError) as e:
        return _error(str(e))
    out = Path(args.out) if args.out else (
        Path("traces") / f"{design.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    count = args.images if args.images is not None else design.config.dataset.images
    bar = _progress(count, args.quiet)
    correct = [0, 0]

    def progress(rec) -> None:
        if rec.label is not None:
            correct[0] += int(rec.correct)
            correct[1] += 1
        if bar is not None:
            bar.update(1)
            if correct[1]:
                bar.set_postfix(acc=f"{100.0 * correct[0] / correct[1]:.2f}%")

    try:
        result = run(design, images=args.images, start=args.start, data_dir=args.data_dir,
                     mode=args.mode, probes=tuple(args.probe), probe_images=args.probe_images,
                     jobs=max(1, args.jobs), progress=progress, out=out, events=args.events)
    except (ConfigError, DatasetError) as e:
        return _error(str(e))
    except RunInterrupted as e:
        if e.while_writing:
            print(f"archsim: interrupted while writing {out} (marked INCOMPLETE)",
                  file=sys.stderr)
        else:
            print("archsim: interrupted; no output written", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if bar is not None:
            bar.close()
    from archsim.outputs.console import summary_text

    if not args.quiet:
        print(summary_text(result, out))
    return EXIT_OK


def _progress(total: int, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="simulating", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    from archsim.config.validate_cli import validate_main

    return validate_main(args.config, args.set, images=args.images, start=args.start,
                         data_dir=args.data_dir, probes=tuple(args.probe))


def cmd_plot(args: argparse.Namespace) -> int:
    from archsim.plots import plot_main
    from archsim.sweep.plots import is_sweep_folder, plot_sweep_main

    if any(is_sweep_folder(d) for d in args.run_dirs):
        return plot_sweep_main(args.run_dirs, args.format)
    return plot_main(args.run_dirs, args.format)


def cmd_sweep(args: argparse.Namespace) -> int:
    from archsim.sweep.runner import sweep_main

    return sweep_main(args)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from archsim.reproduce.main import reproduce_main

    return reproduce_main(args)


def cmd_data(args: argparse.Namespace) -> int:
    from archsim.nn.fetch import fetch_main

    return fetch_main(args.name, args.dir, args.base_url)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"run": cmd_run, "validate": cmd_validate, "plot": cmd_plot, "data": cmd_data,
                "sweep": cmd_sweep, "reproduce": cmd_reproduce}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
