"""``archsim reproduce dwcnn``: run DW-CNN's design points and write its tables and figures
(``archsim reproduce imce`` is :mod:`archsim.reproduce.imce`).

Output folder layout::

    <out>/runs/<study>[-calibrated]/   sweep folders (results.csv + one run folder per point)
    <out>/tables/*.csv, *.md           paper / ours / ratio for every quantity
    <out>/figures/*.png, *.svg         the paper's figures redrawn, its values marked
    <out>/trends.md, trends.csv        each stated trend, holds or not, with our numbers
    <out>/fit.md                       the Table II calibration redone on this run's points
    <out>/report.md                    everything above on one page

Exit codes: 0 done, 1 some design points failed, 2 bad arguments, data or configs,
130 interrupted (finished points stay and are reused by the next run).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

from archsim.outputs.atomic import write_text
from archsim.reproduce import collect, figures
from archsim.reproduce.calibrate import fit_table2, fitted_numbers
from archsim.reproduce.studies import (
    CALIBRATED,
    GENERIC,
    OUTPUTS,
    configs_dir,
)
from archsim.reproduce.tables import Table
from archsim.reproduce.trends import check_trends, trends_markdown

__all__ = ["reproduce_main", "write_outputs"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _error(msg: str) -> int:
    print(f"archsim: error: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _fit_report(results: dict, tech_file: Path) -> str:
    """Redo the Table II fit on this run's generic45 points and compare with ``tech_file``."""
    from archsim.config import load_config
    from archsim.units import parse_quantity

    pts = {}
    for structure in ("shared", "unshared"):
        for p in results.get((f"table2_fc2_{structure}", GENERIC), []):
            pts[(int(p.axes["layers.fc2.weights.length"]), structure)] = p.summary
    if len(pts) < 4:
        return "Fit not redone: the Table II points were not run (--only).\n"
    fit = fit_table2(pts)
    cfg = load_config(configs_dir() / "dwcnn" / "lenet5_dwm_sn128_fc-unshared.yaml")
    tech = cfg.technology
    generic = {f"dwm.{k}": v for k, v in tech.dwm.as_floats().items()} if tech.dwm else {}
    for unit in ("xnor", "apc_per_input", "pc_per_input", "mux_input"):
        u = getattr(tech.logic, unit)
        generic[f"logic.{unit}.energy"] = u.energy.value
        generic[f"logic.{unit}.area"] = u.area.value
    fitted = fitted_numbers(fit, generic)
    import yaml

    filed = yaml.safe_load(tech_file.read_text(encoding="utf-8"))["technology"]
    dims = {"energy": "energy", "area": "area", "leakage_per_bit": "power",
            "energy_per_bit": "energy", "shift_energy_per_track_step": "energy"}
    lines = ["### Calibration: fit to Table II (generic45 action counts of this run)", "",
             f"Inner-product energy scale {fit.logic_energy_scale:.4g}, sharing-circuitry "
             f"energy scale {fit.sharing_energy_scale:.4g}, DWM power per stored bit "
             f"{fit.dwm_leakage_nw_per_bit:.4g} nW, DWM area scale {fit.dwm_area_scale:.4g}, "
             f"logic area scale {fit.logic_area_scale:.4g}.", "",
             f"Fit error on Table II: power RMS {fit.power_rms_pct:.1f} %, area RMS "
             f"{fit.area_rms_pct:.1f} % (the calibrated Table II shows the simulated values).",
             "", f"| number | fitted now | in {tech_file.name} | difference |", "|---|---|---|---|"]
    for key, val in fitted.items():
        node: Any = filed
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        shown = "-"
        diff = "-"
        if isinstance(node, dict) and "value" in node:
            dim = next((d for k, d in dims.items() if key.endswith(k)), "area")
            filed_val = parse_quantity(str(node["value"]), dim)
            shown = str(node["value"])
            diff = (f"{100 * (filed_val / val - 1):+.1f} %" if val else
                    ("0" if filed_val == 0 else "nonzero vs 0"))
        lines.append(f"| {key} | {val:.4g} | {shown} | {diff} |")
    lines.append("")
    lines.append("(internal units: pJ, mW, um^2)")
    return "\n".join(lines) + "\n"


def write_outputs(results: dict, out: Path, tech_file: Path, wall_s: float | None = None,
                  tables: dict[str, Table] | None = None) -> list[Path]:
    """Tables, figures, trends, fit and report for whatever studies ``results`` holds; each
    table also goes into ``tables`` (by its file stem) when given."""
    written: list[Path] = []
    made: dict[str, Table] = {} if tables is None else tables
    tdir, fdir = out / "tables", out / "figures"
    md: list[str] = ["# DW-CNN reproduced by archsim", ""]
    if wall_s is not None:
        md += [f"Wall time of the simulations: {wall_s / 60:.1f} min.", ""]
    has = {name for name, _ in results}
    for tech in (GENERIC, CALIBRATED):
        sfx = "" if tech == GENERIC else "_calibrated"
        if set(OUTPUTS["table1"]) <= has:
            t = collect.table1(results, tech)
            made[f"table1{sfx}"] = t
            written += t.write(tdir, f"table1{sfx}")
            md.append(t.to_markdown())
            written += figures.fig11(collect.fig11_series(results, tech), fdir, f"fig11{sfx}",
                                     tech)
        if set(OUTPUTS["table2"]) <= has:
            t = collect.table2(results, tech)
            if tech == CALIBRATED:  # the calibrated technology is a fit to this very table
                t.caveat = ("made with the calibrated technology (arch_configs/tech/"
                            "dwcnn_calibrated.yaml), whose energy and area parameters were "
                            "fitted to this same Table II (fit.md): agreement here shows the "
                            "fit, not a prediction. Table I and Fig. 11 are its check.")
            made[f"table2{sfx}"] = t
            written += t.write(tdir, f"table2{sfx}")
            md.append(t.to_markdown())
            c = collect.claims_table(results, tech)
            if tech == CALIBRATED:
                c.caveat = ("computed from the Table II design points with the calibrated "
                            "technology, which was fitted to Table II: not an independent "
                            "check of the claims.")
            made[f"claims{sfx}"] = c
            written += c.write(tdir, f"claims{sfx}")
            md.append(c.to_markdown())
    if set(OUTPUTS["table2"]) <= has:
        written += figures.table2_chart({tech: collect.table2_costs(results, tech)
                                         for tech in (GENERIC, CALIBRATED)}, fdir, "table2")
    if set(OUTPUTS["table3"]) <= has:
        t = collect.table3(results)
        made["table3"] = t
        written += t.write(tdir, "table3")
        md.append(t.to_markdown())
        written += figures.table3_chart(
            {f"unshared FC, {collect.study_models(results, 'table3_fc2_length')}":
             collect.table3_accuracy(results),
             f"shared FC, {collect.study_models(results, 'table3_fc2_length_shared')}":
             collect.table3_accuracy(results, shared=True)}, fdir, "table3")
    if set(OUTPUTS["fig8"]) <= has:
        series = collect.fig8_series(results)
        written += figures.fig8(series, fdir, "fig8")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["curve", "weight_bits", "error_pct", "images"])
        for curve, pts in series.items():
            w.writerows([curve, b, f"{e:.4g}", n] for b, e, n in pts)
        written.append(write_text(tdir / "fig8_data.csv", buf.getvalue()))
    trends = check_trends(results, (GENERIC, CALIBRATED))
    tmd = trends_markdown(trends)
    written.append(write_text(out / "trends.md", tmd))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["where", "technology", "claim", "evidence", "holds"])
    w.writerows([t.where, t.tech, t.claim, t.evidence, t.holds] for t in trends)
    written.append(write_text(out / "trends.csv", buf.getvalue()))
    md.append(tmd)
    fit = _fit_report(results, tech_file)
    written.append(write_text(out / "fit.md", fit))
    md.append(fit)
    written.append(write_text(out / "report.md", "\n".join(md)))
    from archsim.report import write_report

    written.append(write_report(out))
    return written


def reproduce_main(args: Any) -> int:
    """``archsim reproduce <paper>`` (``args`` from the CLI parser): the paper's command from
    the registry :data:`archsim.reproduce.papers.PAPERS`."""
    from archsim.reproduce.papers import PAPERS

    paper = PAPERS.get(args.paper)
    if paper is None:
        return _error(f"unknown paper {args.paper!r}; known: {', '.join(PAPERS)}")
    return paper.command()(args)


def reproduce_dwcnn(args: Any) -> int:
    """``archsim reproduce dwcnn``: checks the arguments and calls
    :func:`archsim.api.reproduce`, the function the Python API exports."""
    from archsim.api import reproduce
    from archsim.children import Terminated
    from archsim.config.errors import ConfigError
    from archsim.nn.errors import DatasetError
    from archsim.outputs.run_folder import OutputFolderError
    from archsim.sweep.folder import SweepLocked

    for opt in ("images", "hw_images", "jobs"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            return _error(f"--{opt.replace('_', '-')} must be at least 1")
    only = list(dict.fromkeys(args.only or OUTPUTS))
    bad = [o for o in only if o not in OUTPUTS]
    if bad:
        return _error(f"--only {bad[0]!r}: expected one of {', '.join(OUTPUTS)}")
    out = Path(args.out) if args.out else Path("traces") / "reproduce" / "dwcnn"

    def progress(line: str) -> None:
        print(f"archsim: reproduce: {line}", flush=True)

    try:
        rep = reproduce(args.paper, out, only=only, images=args.images,
                        hw_images=args.hw_images, jobs=args.jobs, tech=args.tech,
                        overrides=list(args.set), data_dir=args.data_dir,
                        progress=None if args.quiet else progress)
    except (ConfigError, DatasetError, FileNotFoundError, SweepLocked, OutputFolderError) as e:
        return _error(str(e))
    except ValueError as e:  # the data set is shorter than --images
        return _error(f"--images {args.images}: {e}")
    except (RuntimeError, OSError) as e:
        print(f"archsim: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as e:
        print(f"archsim: {e or 'interrupted'}; finished points stay in {out}/runs and are "
              "reused", file=sys.stderr)
        return 128 + e.signum if isinstance(e, Terminated) else EXIT_INTERRUPTED
    if not args.quiet:
        print(f"{out}: {len(rep.written)} files (tables/, figures/, trends.md, fit.md, "
              f"report.md) in {rep.wall_s / 60:.1f} min")
    return EXIT_OK
