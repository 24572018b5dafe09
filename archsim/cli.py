"""The ``archsim`` command line.

    archsim run CONFIG [--images N] [--start K] [--seed S] [--out DIR] [--set key.path=value ...]
                       [--mode fast|per-cycle] [--data-dir DIR] [--quiet] [--report]
    archsim validate CONFIG [--set ...]
    archsim plot RUN_DIR|SWEEP_DIR [...] [--format png|svg|pdf] [--style default|paper]
    archsim report RUN_DIR|SWEEP_DIR|REPRODUCTION_DIR
    archsim sweep SWEEP.yaml [--jobs N] [--backend local|dask|ray] [--scheduler ADDRESS]
                             [--out DIR] [--images N] [--seed S] [--set ...] [--data-dir DIR]
    archsim data fetch mnist|fashion-mnist|cifar10 [--dir DIR] [--base-url URL] [--allow-http]
                       [--deadline SECONDS]
    archsim reproduce dwcnn [--images N] [--hw-images N] [--out DIR] [--jobs N]
                            [--only table1|table2|table3|fig8|fig11 ...] [--data-dir DIR]
    archsim --version

Exit codes: 0 success, 1 the run failed (a worker process died, the output could not be
written: nothing is left half-written), 2 bad input (config, data, arguments, output folder),
130 interrupted (Ctrl-C), 143 terminated (SIGTERM; 129 for SIGHUP).  On SIGTERM or Ctrl-C the
worker processes are stopped and queued work is cancelled; workers also die on their own if
archsim is killed (``archsim.children``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from archsim import __version__

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


#: the largest count or index the command line takes (an int64 the engine can hold)
_MAX_INT = 2**63 - 1


def _int_at_least(low: int):
    """An argparse type: an integer in [low, 2**63 - 1] (a bad one exits 2 naming it)."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= _MAX_INT:
            raise argparse.ArgumentTypeError(f"{value} is out of range (expected an integer "
                                             f">= {low})")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


_COUNT, _INDEX = _int_at_least(1), _int_at_least(0)


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
    r.add_argument("--images", type=_COUNT, help="number of images (overrides dataset.images)")
    r.add_argument("--start", type=_INDEX, help="index of the first image (dataset.start)")
    r.add_argument("--seed", type=_INDEX, help="run seed (overrides seed)")
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
    r.add_argument("--probe-images", type=_COUNT, default=1,
                   help="probe the first N images (default 1)")
    r.add_argument("--jobs", type=_COUNT, default=os.cpu_count() or 1,
                   help="image-parallel worker processes (default: all cores); results do not "
                   "depend on it")
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    r.add_argument("--report", action="store_true",
                   help="also draw the figures and write report.html into the run folder")

    v = sub.add_parser("validate", help="check a design description: every check 'run' does "
                       "(mapping, model, data set, probes), without simulating")
    v.add_argument("config", help="YAML design description (a path or builtin:<name>)")
    v.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    v.add_argument("--images", type=_COUNT, default=None, help="as for run")
    v.add_argument("--start", type=_INDEX, default=None, help="as for run")
    v.add_argument("--data-dir", default=None, help="as for run")
    v.add_argument("--probe", action="append", default=[], metavar="SIGNAL", help="as for run")

    pl = sub.add_parser("plot", help="draw the figures of run folders")
    pl.add_argument("run_dirs", nargs="+")
    pl.add_argument("--format", choices=("png", "svg", "pdf"), default=None,
                    help="default: png, or pdf with --style paper")
    pl.add_argument("--style", choices=("default", "paper"), default="default",
                    help="paper: two-column text width, 8 pt fonts, vector output")

    rp = sub.add_parser("report", help="write report.html (one self-contained page) for a run, "
                        "sweep or reproduction folder")
    rp.add_argument("dirs", nargs="+")

    sw = sub.add_parser("sweep", help="run a design-space sweep (docs/sweeps.md)")
    sw.add_argument("sweep", help="YAML sweep file (a path, or builtin:sweeps/<name>)")
    sw.add_argument("--jobs", type=_COUNT, default=None, help="parallel points (default: CPUs)")
    sw.add_argument("--backend", choices=("local", "dask", "ray"), default="local")
    sw.add_argument("--scheduler", help="dask scheduler / ray cluster address (neither is "
                    "authenticated: see docs/sweeps.md)")
    sw.add_argument("--dashboard", action="store_true",
                    help="open the dask / ray dashboard of a local cluster (on 127.0.0.1)")
    sw.add_argument("--out", help="sweep folder (default traces/sweeps/<name>)")
    sw.add_argument("--images", type=_COUNT, help="images per point (overrides the sweep file)")
    sw.add_argument("--seed", type=_INDEX, help="one seed for every point (overrides the policy)")
    sw.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                    help="override applied to every point")
    sw.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/")
    sw.add_argument("--mode", choices=("fast", "per-cycle"), default="fast")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")

    rp = sub.add_parser("reproduce", help="re-run a paper's design points and write its tables "
                        "and figures beside the paper's numbers (docs/reproducing-dwcnn.md)")
    rp.add_argument("paper", choices=("dwcnn", "imce", "pim-admm"),
                    help="the paper: dwcnn (DW-CNN, docs/reproducing-dwcnn.md), imce (IMCE "
                    "on SOT-MRAM, AlexNet, beside an RRAM crossbar design, "
                    "docs/reproducing-imce.md) or pim-admm (compressed DNNs on the SOT-MRAM "
                    "PIM engine, docs/reproducing-pim-admm.md)")
    rp.add_argument("--images", type=_COUNT, default=200,
                    help="MNIST test images per accuracy point (default 200)")
    rp.add_argument("--hw-images", type=_COUNT, default=10,
                    help="images per area/power point (default 10: costs per image do not "
                    "depend on the images; binary weights' one-time load is amortised over them)")
    rp.add_argument("--out", help="output folder (default traces/reproduce/<paper>)")
    rp.add_argument("--jobs", type=_COUNT, default=os.cpu_count() or 1,
                    help="parallel design points (default: all cores)")
    rp.add_argument("--only", action="append", metavar="OUTPUT",
                    help="dwcnn: only this table/figure (table1, table2, table3, fig8, "
                    "fig11); imce: only this W:A width (w1a4, ...); pim-admm: accuracy, "
                    "hardware or a shipped pimc_* model; repeatable")
    rp.add_argument("--tech", help="calibrated technology file (default the shipped "
                    "builtin:tech/dwcnn_calibrated.yaml)")
    rp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                    help="override applied to every design point")
    rp.add_argument("--data-dir", help="folder with mnist/ (or ARCHSIM_DATA)")
    rp.add_argument("--quiet", action="store_true", help="no progress lines")

    d = sub.add_parser("data", help="data sets")
    dsub = d.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download and verify an official data set")
    f.add_argument("name", choices=("mnist", "fashion-mnist", "cifar10"))
    f.add_argument("--dir", default=None, help="data directory to fill (<DIR>/<name>/; default "
                   "$ARCHSIM_DATA; with neither, nothing is fetched)")
    f.add_argument("--base-url", default=None, help="mirror to download from (https://)")
    f.add_argument("--allow-http", action="store_true",
                   help="accept a plain http:// mirror (the files are still SHA-256 checked)")
    f.add_argument("--deadline", type=float, default=None, metavar="SECONDS",
                   help="stop the whole fetch after this long (default 3600)")
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
    from archsim.children import WorkerDied
    from archsim.config.errors import ConfigError
    from archsim.nn.errors import DatasetError
    from archsim.outputs.run_folder import OutputFolderError, check_output_folder
    from archsim.run import RunOptions, prepare_run, run_config

    opts = RunOptions(images=args.images, start=args.start, data_dir=args.data_dir,
                      mode=args.mode, probes=tuple(args.probe), probe_images=args.probe_images,
                      jobs=args.jobs)
    try:  # every check before the run folder is touched
        cfg = _load(args.config, args.set, args.seed)
        prepared = prepare_run(cfg, opts)
        out = Path(args.out) if args.out else (
            Path("traces") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        check_output_folder(out)
    except (ConfigError, DatasetError, OutputFolderError) as e:
        return _error(str(e))
    bar = _progress(prepared.count, args.quiet)
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
        result, _ = run_config(cfg, opts, progress, prepared=prepared)
    except (ConfigError, DatasetError) as e:
        return _error(str(e))
    except WorkerDied as e:
        print(f"archsim: error: {e}; no output written", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as e:
        print(f"archsim: {_why(e)}; no output written", file=sys.stderr)
        return _interrupted(e)
    finally:
        if bar is not None:
            bar.close()
    from archsim.outputs.console import summary_text
    from archsim.outputs.run_folder import write_run_folder

    try:
        write_run_folder(result, out, events=args.events, config_name=cfg.name)
    except (OSError, OutputFolderError) as e:
        print(f"archsim: error: cannot write the run folder {out} ({_os_reason(e)}); "
              "nothing there was changed", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as e:
        print(f"archsim: {_why(e)} while writing {out}; nothing there was changed",
              file=sys.stderr)
        return _interrupted(e)
    if args.report:
        from archsim.report import write_report

        write_report(out)
    if not args.quiet:
        print(summary_text(result, out))
    return EXIT_OK


def _why(e: BaseException) -> str:
    from archsim.children import Terminated

    return str(e) if isinstance(e, Terminated) else "interrupted"


def _interrupted(e: BaseException) -> int:
    """130 for Ctrl-C, 128 + the signal for SIGTERM / SIGHUP (the shell's convention)."""
    from archsim.children import Terminated

    return 128 + e.signum if isinstance(e, Terminated) else EXIT_INTERRUPTED


def _os_reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}{f': {e.filename}' if e.filename else ''}"
    return str(e)


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
    from archsim.plots.style import STYLES, use_style
    from archsim.sweep.plots import is_sweep_folder, plot_sweep_main

    fmt = args.format or STYLES[args.style]["format"]
    with use_style(args.style):
        if any(is_sweep_folder(d) for d in args.run_dirs):
            return plot_sweep_main(args.run_dirs, fmt)
        return plot_main(args.run_dirs, fmt)


def cmd_report(args: argparse.Namespace) -> int:
    from archsim.report import report_main

    return report_main(args.dirs)


def cmd_sweep(args: argparse.Namespace) -> int:
    from archsim.sweep.runner import sweep_main

    return sweep_main(args)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from archsim.reproduce.main import reproduce_main

    return reproduce_main(args)


def cmd_data(args: argparse.Namespace) -> int:
    from archsim.nn.fetch import DEFAULT_DEADLINE_S, fetch_main

    deadline = DEFAULT_DEADLINE_S if args.deadline is None else args.deadline
    if not 0 < deadline < float("inf"):
        return _error(f"--deadline {args.deadline}: expected a positive number of seconds")
    return fetch_main(args.name, args.dir, args.base_url, allow_http=args.allow_http,
                      deadline_s=deadline)


def main(argv: list[str] | None = None) -> int:
    import signal

    from archsim.children import terminate_raises
    from archsim.cli_numbers import check_numbers

    parser = _parser()
    args = parser.parse_args(argv)
    problem = check_numbers(args)
    if problem is not None:
        parser.error(problem)  # exits 2
    handlers = {"run": cmd_run, "validate": cmd_validate, "plot": cmd_plot, "report": cmd_report,
                "data": cmd_data, "sweep": cmd_sweep, "reproduce": cmd_reproduce}
    hup = (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
    try:
        with terminate_raises((signal.SIGTERM, *hup)):
            return handlers[args.command](args)
    except KeyboardInterrupt as e:
        # interrupted before a command's own handler (loading, elaboration): run, validate and
        # plot have written nothing yet; sweep and reproduce say what they kept themselves
        quiet = " no output written" if args.command in ("run", "validate", "plot") else ""
        print(f"archsim: {_why(e)};{quiet}".rstrip(";"), file=sys.stderr)
        return _interrupted(e)


if __name__ == "__main__":
    raise SystemExit(main())
