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
    archsim train CONFIG --out MODEL.npz [--epochs N] [--calibrate N] [--hil-after LAYER] ...
    archsim import-onnx MODEL.onnx --out DIR [--mapping M] [--dataset D] [--clip C]
    archsim reproduce dwcnn|imce|scbnn [--images N] [--hw-images N] [--out DIR] [--jobs N]
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
    r.add_argument("--report", action="store_true",
                   help="also draw the figures and write report.html into the run folder")

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
    pl.add_argument("--format", choices=("png", "svg", "pdf"), default=None,
                    help="default: png, or pdf with --style paper")
    pl.add_argument("--style", choices=("default", "paper"), default="default",
                    help="paper: two-column text width, 8 pt fonts, vector output")

    rp = sub.add_parser("report", help="write report.html (one self-contained page) for a run, "
                        "sweep or reproduction folder")
    rp.add_argument("dirs", nargs="+")

    sw = sub.add_parser("sweep", help="run a design-space sweep (docs/sweeps.md)")
    sw.add_argument("sweep", help="YAML sweep file (a path, or builtin:sweeps/<name>)")
    sw.add_argument("--jobs", type=int, default=None, help="parallel points (default: CPUs)")
    sw.add_argument("--backend", choices=("local", "dask", "ray"), default="local")
    sw.add_argument("--scheduler", help="dask scheduler / ray cluster address (neither is "
                    "authenticated: see docs/sweeps.md)")
    sw.add_argument("--dashboard", action="store_true",
                    help="open the dask / ray dashboard of a local cluster (on 127.0.0.1)")
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
    from archsim.reproduce.papers import PAPERS

    rp.add_argument("paper", choices=tuple(PAPERS),
                    help="the paper: " + "; ".join(f"{p.name} ({p.title}, {p.doc})"
                                                   for p in PAPERS.values()))
    rp.add_argument("--images", type=int, default=200,
                    help="MNIST test images per accuracy point (default 200)")
    rp.add_argument("--hw-images", type=int, default=10,
                    help="images per area/power point (default 10: costs per image do not "
                    "depend on the images; binary weights' one-time load is amortised over them)")
    rp.add_argument("--out", help="output folder (default traces/reproduce/<paper>)")
    rp.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
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

    t = sub.add_parser("train", help="fine-tune a design's model through a differentiable "
                       "model of its fabric (docs/training.md; needs torch)")
    t.add_argument("config", help="design file whose model is fine-tuned (path or builtin:)")
    t.add_argument("--out", required=True, help="the .npz to write (model.weights of a design)")
    t.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override of the design (e.g. model.weights=init.npz)")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--lr", type=float, default=5e-4, help="peak Adam learning rate")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--val-count", type=int, default=5000,
                   help="training images held out for choosing the best epoch")
    t.add_argument("--max-train", type=int, default=0, help="use the first N training images")
    t.add_argument("--calibrate", type=int, default=100, metavar="N",
                   help="training images the simulator measures the model's gains on (0: off)")
    t.add_argument("--calibrate-noise", action="store_true",
                   help="also set the last layer's training noise to the spread the simulator "
                   "shows on those images (noise_scale; the measurement is always reported)")
    t.add_argument("--hil-after", metavar="LAYER", help="train the layers after LAYER on the "
                   "accelerator's real outputs of LAYER (hardware in the loop)")
    t.add_argument("--hil-images", type=int, default=2000)
    t.add_argument("--augment-shift", type=int, default=1)
    t.add_argument("--tune", action="append", default=[], metavar="ATTR=VALUE",
                   help="hardware-model attribute, e.g. pool_tau=0.8 or noise_scale=0.5")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/ (or ARCHSIM_DATA)")
    t.add_argument("--quiet", action="store_true")

    io = sub.add_parser("import-onnx", help="an ONNX model as a workload file and its weights "
                        "(docs/workloads.md)")
    io.add_argument("model", help="the .onnx file")
    io.add_argument("--out", required=True, help="folder for <name>.yaml and <name>.npz")
    io.add_argument("--name", help="workload name (default: the file stem)")
    io.add_argument("--mapping", choices=("unipolar", "bipolar", "raw"), default="unipolar",
                    help="how pixels became the model's input in training (default p/255)")
    io.add_argument("--dataset", choices=("mnist", "fashion-mnist", "random"),
                    default="random")
    io.add_argument("--input-shape", help="C,H,W of the images when the graph takes vectors")
    io.add_argument("--clip", type=float, help="model.clip (1.0 for SC fabrics)")

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
    """``archsim run``: :func:`archsim.api.load`, :func:`archsim.api.run` (its checks first),
    then the run folder's writers, with a progress bar and the console summary."""
    from archsim.api import load, run
    from archsim.children import WorkerDied
    from archsim.config.errors import ConfigError
    from archsim.nn.errors import DatasetError
    from archsim.outputs.run_folder import OutputFolderError, check_output_folder

    try:  # every check before the run folder is touched (run() makes the others first)
        design = load(args.config, args.set, seed=args.seed)
        cfg = design.config
        out = Path(args.out) if args.out else (
            Path("traces") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        check_output_folder(out)
    except (ConfigError, DatasetError, OutputFolderError) as e:
        return _error(str(e))
    count = args.images if args.images is not None else cfg.dataset.images
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
                     jobs=args.jobs, progress=progress)
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


def cmd_train(args: argparse.Namespace) -> int:
    from archsim.config.errors import ConfigError
    from archsim.nn.errors import DatasetError

    try:
        from archsim.train.finetune import finetune
    except ImportError as e:
        return _error(f"archsim train needs torch ({e}): pip install torch==2.13.0")
    tuning = {}
    for text in args.tune:
        key, sep, value = text.partition("=")
        if not sep:
            return _error(f"--tune {text!r}: expected ATTR=VALUE")
        import yaml

        tuning[key.strip()] = yaml.safe_load(value)

    def progress(rec: dict) -> None:
        if not args.quiet:
            print(f"archsim: train: {rec}", flush=True)

    try:
        rep = finetune(args.config, args.out, overrides=args.set, epochs=args.epochs,
                       lr=args.lr, batch_size=args.batch_size, data_dir=args.data_dir,
                       val_count=args.val_count, max_train=args.max_train,
                       calibrate_images=args.calibrate,
                       calibrate_noise=args.calibrate_noise, hil_after=args.hil_after,
                       hil_images=args.hil_images, augment_shift=args.augment_shift,
                       seed=args.seed, threads=args.threads, tuning=tuning,
                       progress=progress)
    except (ConfigError, DatasetError) as e:
        return _error(str(e))
    except KeyboardInterrupt:
        print("archsim: interrupted; no model written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"archsim: wrote {rep.out} ({rep.metadata['train_seconds']} s)")
    return EXIT_OK


def cmd_import_onnx(args: argparse.Namespace) -> int:
    from archsim.config.errors import ConfigError
    from archsim.workload.onnx_import import import_onnx

    shape = None
    if args.input_shape:
        try:
            shape = tuple(int(v) for v in args.input_shape.split(","))
        except ValueError:
            return _error(f"--input-shape {args.input_shape!r}: expected C,H,W integers")
    try:
        imported = import_onnx(args.model, name=args.name, mapping=args.mapping,
                               dataset={"name": args.dataset}, input_shape=shape,
                               clip=args.clip)
        yaml_path, npz = imported.save(args.out)
        from archsim.workload import load_weights, load_workload

        load_weights(load_workload(yaml_path))  # what a design will read: valid
    except ConfigError as e:
        return _error(str(e))
    print(f"archsim: {args.model}: {len(imported.workload['ops'])} ops -> {yaml_path}, {npz}")
    return EXIT_OK


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
        parser.error(problem)  # exits 2, before anything is read or written
    handlers = {"run": cmd_run, "validate": cmd_validate, "plot": cmd_plot, "report": cmd_report,
                "data": cmd_data, "sweep": cmd_sweep, "reproduce": cmd_reproduce,
                "train": cmd_train, "import-onnx": cmd_import_onnx}
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
