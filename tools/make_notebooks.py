"""Write the example notebooks of examples/ (outputs empty): the notebooks are generated from
the cell sources below so their text stays reviewable in one place.

    python tools/make_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parents[1] / "examples"

SETUP = """import os

import archsim

# images per run; CI executes the notebooks with ARCHSIM_NB_IMAGES=3
IMAGES = int(os.environ.get("ARCHSIM_NB_IMAGES", "50"))"""

DWCNN = [
    new_markdown_cell("""# DW-CNN: the stochastic-computing LeNet-5 of DW-CNN, from Python

The design of *DW-CNN: a domain-wall-memory stochastic-computing CNN* (Ma et al., ISQED 2018):
1024-bit input streams, 128-bit stochastic weights in domain-wall memory, filter-shared
convolution weights and MUX-shared fully connected layers, here with exact parallel counters
and the model fine-tuned for the SC datapath. Everything below uses only the public API
(`archsim.load`, `archsim.run`, `RunResult.to_frame`); docs/python-api.md is the tutorial."""),
    new_code_cell(SETUP),
    new_code_cell("""design = archsim.load("builtin:dwcnn/lenet5_dwm_sn128_fc-shared_pc_sc.yaml")
print(design.name, "-", design.fabric, "fabric")"""),
    new_code_cell("""done = []
result = archsim.run(design, images=IMAGES, progress=lambda rec: done.append(rec.correct))
print(f"{result.images} images, {result.cycles / result.images:.0f} cycles per image at "
      f"{result.clock_mhz:.0f} MHz")
print(f"accuracy {100 * result.accuracy_fraction():.1f} %, "
      f"energy {result.energy_pj() / result.images / 1e6:.1f} uJ per image, "
      f"area {result.area_um2() / 1e6:.2f} mm^2")"""),
    new_markdown_cell("Per-layer timing, energy and area (the rows of `layers.csv`):"),
    new_code_cell("""layers = result.to_frame("layers")
layers[["layer", "cycles", "stall_cycles", "energy_per_image_pj", "area_um2"]]"""),
    new_markdown_cell("The blocks that spend the energy (the rows of `blocks.csv`):"),
    new_code_cell("""blocks = result.to_frame("blocks")
top = blocks.sort_values("energy_pj", ascending=False)
top[["layer", "block", "kind", "energy_pj"]].head(8)"""),
    new_markdown_cell("Per image: label, SC prediction, float-reference prediction and each "
                      "layer's mean SC-vs-float error (`accuracy.csv`):"),
    new_code_cell("""acc = result.to_frame("accuracy")
print(acc[[c for c in acc.columns if c.startswith("err_")]].mean().round(3))
acc.head()"""),
    new_code_cell("""import matplotlib.pyplot as plt

timed = layers.dropna(subset=["cycles"])
ax = timed.plot.bar(x="layer", y="energy_per_image_pj", legend=False)
ax.set_ylabel("energy per image (pJ)")
plt.tight_layout()"""),
    new_markdown_cell("A variant of the design is one override away: 256-bit input streams."),
    new_code_cell("""short = archsim.run(design.with_overrides("stream.length=256"), images=IMAGES)
print(f"256-bit streams: {100 * short.accuracy_fraction():.1f} % at "
      f"{short.energy_pj() / result.energy_pj():.2f}x the energy")"""),
]

SWEEP = [
    new_markdown_cell("""# A design-space sweep and its Pareto front

Input stream length x the last FC layer's weight stream length of the DW-CNN design
(exact parallel counters), run with `archsim.sweep`; the results table is a DataFrame
(`SweepReport.to_frame`), and the designs no other design beats on both energy per image
and accuracy form the Pareto front."""),
    new_code_cell("""import os
import tempfile
from pathlib import Path

import archsim

# images per point; CI executes the notebooks with ARCHSIM_NB_IMAGES=3
IMAGES = int(os.environ.get("ARCHSIM_NB_IMAGES", "50"))

work = Path(tempfile.mkdtemp(prefix="archsim-sweep-"))
sweep_file = work / "sweep.yaml"
sweep_file.write_text(\"\"\"
name: stream_vs_fc2_length
base: builtin:dwcnn/lenet5_dwm_sn128_fc-shared_pc_sc.yaml
mode: product
axes:
  stream.length: [128, 256, 512]
  layers.fc2.weights.length: [32, 128]
\"\"\")"""),
    new_code_cell("""finished = []
report = archsim.sweep(sweep_file, work / "out", images=IMAGES,
                       progress=lambda status: finished.append(status["key"]))
table = report.to_frame()
cols = ["stream.length", "layers.fc2.weights.length", "accuracy", "energy_per_image_pj",
        "latency_per_image_ns", "area_um2"]
table[cols]"""),
    new_code_cell("""def pareto(frame, cost, gain):
    \"\"\"Rows that no other row beats: lower or equal cost and higher or equal gain, one
    of them strictly.\"\"\"
    keep = []
    for _, r in frame.iterrows():
        beaten = ((frame[cost] <= r[cost]) & (frame[gain] >= r[gain])
                  & ((frame[cost] < r[cost]) | (frame[gain] > r[gain]))).any()
        keep.append(not beaten)
    return frame[keep].sort_values(cost)


front = pareto(table, "energy_per_image_pj", "accuracy")
front[cols]"""),
    new_code_cell("""import matplotlib.pyplot as plt

fig, ax = plt.subplots()
ax.scatter(table["energy_per_image_pj"] / 1e6, 100 * table["accuracy"], label="design points")
ax.step(front["energy_per_image_pj"] / 1e6, 100 * front["accuracy"], where="post", color="C1",
        label="Pareto front")
for _, r in table.iterrows():
    ax.annotate(f"L={r['stream.length']}, fc2={r['layers.fc2.weights.length']}",
                (r["energy_per_image_pj"] / 1e6, 100 * r["accuracy"]), fontsize=7)
ax.set_xlabel("energy per image (uJ)")
ax.set_ylabel(f"accuracy on {IMAGES} MNIST test images (%)")
ax.legend()
plt.tight_layout()"""),
]


SCBNN = [
    new_markdown_cell("""# SC-BNN: a binarized MLP with stochastic inputs on ST-MRAM

The design of *Stochastic Computing for Hardware Implementation of Binarized Neural Networks*
(Hirtzlin et al., IEEE Access 2019): a 784-1024-1024-10 binarized MLP on Fashion-MNIST whose
weights sit in 2T-2MTJ ST-MRAM arrays with the XNOR in the sense amplifier. The SC-BNN
(`arch_configs/bnn/scbnn_fmnist_n8.yaml`) feeds the first layer N = 8 stochastic binary images
per input (one comparator SNG per pixel) and accumulates its popcounts over them; the
conventional BNN (`conv_bnn_fmnist.yaml`) takes the 8-bit pixels through multi-bit adder lanes.
Everything below uses only the public API (`archsim.load`, `archsim.run`, `archsim.sweep`,
`.to_frame()`); docs/reproducing-scbnn.md discusses the numbers against the paper's."""),
    new_code_cell(SETUP),
    new_markdown_cell("Both designs, and the SC-BNN with the model trained for its stochastic "
                      "inputs (`builtin:bnn_fmnist_sc_n8`) instead of the conventionally "
                      "trained one it names by default:"),
    new_code_cell("""import pandas as pd

designs = {
    "conventional BNN": archsim.load("builtin:bnn/conv_bnn_fmnist.yaml"),
    "SC-BNN N=8": archsim.load("builtin:bnn/scbnn_fmnist_n8.yaml"),
    "SC-BNN N=8, adapted model": archsim.load("builtin:bnn/scbnn_fmnist_n8.yaml",
                                              model="builtin:bnn_fmnist_sc_n8"),
}
results = {label: archsim.run(d, images=IMAGES) for label, d in designs.items()}


def summary(r):
    acc = r.to_frame("accuracy")
    return {"accuracy (%)": 100 * r.accuracy_fraction(),
            "energy per image (uJ)": r.energy_pj() / r.images / 1e6,
            "area (mm^2)": r.area_um2() / 1e6,
            "latency per image (us)": acc["latency_cycles"].mean() * r.cycle_ns / 1e3}


side = pd.DataFrame({label: summary(r) for label, r in results.items()}).T
side.round(3)"""),
    new_code_cell("""base = side.loc["conventional BNN"]
sc = side.loc["SC-BNN N=8"]
energy = sc["energy per image (uJ)"] / base["energy per image (uJ)"]
print(f"SC-BNN / conventional: energy {energy:.2f}x, "
      f"area {sc['area (mm^2)'] / base['area (mm^2)']:.3f}x "
      f"(paper: 2.1x less energy, 62 % smaller; docs/reproducing-scbnn.md says why)")"""),
    new_markdown_cell("""## Accuracy and energy against the number of presentations N

A sweep (`mode: zip`: point i takes the i-th value of each axis) over N with the model trained
for that N (`builtin:bnn_fmnist_sc_n{N}`, shipped for N = 1 ... 32)."""),
    new_code_cell("""import tempfile
from pathlib import Path

work = Path(tempfile.mkdtemp(prefix="archsim-scbnn-"))
ns = [1, 2, 4, 8, 16, 32]
sweep_file = work / "presentations.yaml"
sweep_file.write_text(f\"\"\"
name: scbnn_presentations
base: builtin:bnn/scbnn_fmnist_n8.yaml
mode: zip
axes:
  input.presentations: {ns}
  model.weights: {[f"builtin:bnn_fmnist_sc_n{n}" for n in ns]}
\"\"\")
table = archsim.sweep(sweep_file, work / "out", images=IMAGES).to_frame()
cols = ["input.presentations", "model.weights", "accuracy", "energy_per_image_pj",
        "latency_per_image_ns", "area_um2"]
table[cols]"""),
    new_code_cell("""import matplotlib.pyplot as plt

fig, ax = plt.subplots()
ax.plot(table["input.presentations"], table["energy_per_image_pj"] / 1e6, "o-", label="SC-BNN")
ax.axhline(base["energy per image (uJ)"], color="C1", ls="--", label="conventional BNN")
ax.set_xscale("log", base=2)
ax.set_xlabel("presentations N")
ax.set_ylabel("energy per image (uJ)")
ax2 = ax.twinx()
ax2.plot(table["input.presentations"], 100 * table["accuracy"], "s:", color="C2")
ax2.set_ylabel(f"accuracy on {IMAGES} test images (%, squares)")
ax.legend(loc="upper left")
plt.tight_layout()"""),
    new_markdown_cell("## Where the energy goes, layer by layer (the rows of `blocks.csv`)"),
    new_code_cell("""fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, label in zip(axes, ["conventional BNN", "SC-BNN N=8"], strict=True):
    r = results[label]
    blocks = r.to_frame("blocks")
    per = blocks.pivot_table(index="layer", columns="kind", values="energy_pj",
                             aggfunc="sum", fill_value=0.0) / r.images / 1e6
    per = per.loc[[n for n in ["input", "fc1", "fc2", "fc3"] if n in per.index]]
    per.plot.bar(stacked=True, ax=ax, title=label, legend=ax is axes[-1])
    ax.set_ylabel("energy per image (uJ)")
axes[-1].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
plt.tight_layout()"""),
]

IMCE = [
    new_markdown_cell("""# IMCE: bit-wise in-memory convolution on SOT-MRAM sub-arrays

The design of *IMCE: Energy-efficient bit-wise in-memory convolution engine for deep neural
network* (Angizi et al., ASP-DAC 2018): a low bit-width CNN computed as AND + bit-count of weight
and activation bit-planes in SOT-MRAM computational sub-arrays (`fabric: pim_bitplane`,
docs/pim-bitplane.md). `arch_configs/pim/alexnet_imce.yaml` runs AlexNet with ImageNet shapes
(random weights, synthetic images: energy, cycles and area are counts x costs that do not
depend on the pixels) and evaluates an ISAAC-style RRAM crossbar reference on the same layers
in the same run. `archsim reproduce imce` runs every width and writes the full report
(docs/reproducing-imce.md); here, two widths with the public API only."""),
    new_code_cell(SETUP),
    new_code_cell("""import json

import pandas as pd

alexnet = archsim.load("builtin:pim/alexnet_imce.yaml", ["reference_check=false"])
LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
QUANTIZE = ["q1", "q2", "q3", "q4", "q5", "q6", "q7"]


def width(m, k):
    \"\"\"AlexNet at W:A = m:k (the first layer keeps reading the 8-bit pixel codes).\"\"\"
    sets = [f"model.layers.{n}.bits={m}" for n in LAYERS] + [f"ops.{q}.bits={k}" for q in QUANTIZE]
    return alexnet.with_overrides(f"workload_set={json.dumps(sets)}")


# energy does not depend on the pixels: one image per width (each run draws 61 M weights)
points = {(m, k): archsim.run(width(m, k), images=1) for m, k in [(1, 4), (4, 4)]}"""),
    new_code_cell("""rows = []
for (m, k), r in points.items():
    rram = r.metadata["rram_reference"]  # ISAAC-style crossbars on the same layers
    e = r.energy_pj() / r.images / 1e6
    rows.append({"W:A": f"{m}:{k}", "IMCE energy (uJ/img)": e, "paper (uJ/img)": 785.25,
                 "RRAM energy (uJ/img)": rram["energy_pj"] / 1e6,
                 "RRAM / IMCE energy": rram["energy_pj"] / 1e6 / e, "paper ratio": "~3",
                 "IMCE area (mm^2)": r.area_um2() / 1e6,
                 "RRAM area (mm^2)": rram["area_um2"] / 1e6,
                 "RRAM / IMCE area": rram["area_um2"] / r.area_um2(), "paper area ratio": "~4",
                 "sub-arrays": r.metadata["subarrays_used"]})
pd.DataFrame(rows).set_index("W:A").round(2).T"""),
    new_markdown_cell("""The abstract's 785.25 uJ falls between our W:A 4:4 and 8:8; the RRAM
and area ratios do not match (docs/reproducing-imce.md explains each difference)."""),
    new_markdown_cell("## Where the energy goes at W:A 1:4: blocks, layers, and the RRAM "
                      "reference"),
    new_code_cell("""import matplotlib.pyplot as plt

r = points[(1, 4)]
blocks = r.to_frame("blocks")
by_block = blocks.groupby("block")["energy_pj"].sum().sort_values(ascending=False) / r.images / 1e6
by_layer = r.to_frame("layers").set_index("layer")["energy_per_image_pj"] / 1e6
rram = pd.Series(r.metadata["rram_reference"]["energy_by_component_pj"]) / 1e6

fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
by_block.plot.bar(ax=axes[0], title="IMCE, by block")
by_layer.reindex(LAYERS).plot.bar(ax=axes[1], title="IMCE, by layer")
rram.sort_values(ascending=False).plot.bar(ax=axes[2], title="RRAM reference, by component")
for ax in axes:
    ax.set_ylabel("energy per image (uJ)")
plt.tight_layout()
by_block.round(2)"""),
    new_markdown_cell("""## Accuracy: trained DoReFa CNNs on MNIST

`arch_configs/pim/dorefa_mnist_sot.yaml` runs the shipped DoReFa models (trained by
`training/train_dorefa.py`) through the same bit-exact datapath; `workload=` picks another
width's workload."""),
    new_code_cell("""rows = []
for wa in ["w1a2", "w2a2", "w4a4"]:
    d = archsim.load("builtin:pim/dorefa_mnist_sot.yaml",
                     workload=f"builtin:workloads/dorefa_mnist_{wa}.yaml")
    r = archsim.run(d, images=IMAGES)
    rows.append({"model": f"dorefa_mnist_{wa}", "accuracy (%)": 100 * r.accuracy_fraction(),
                 "energy per image (uJ)": r.energy_pj() / r.images / 1e6,
                 "area (mm^2)": r.area_um2() / 1e6,
                 "sub-arrays": r.metadata["subarrays_used"]})
pd.DataFrame(rows).set_index("model").round(3)"""),
]

PIM_ADMM = [
    new_markdown_cell("""# Compressed CNNs on the SOT-MRAM PIM engine

*A Highly Compressed DNN Design on SOT-MRAM based Processing-in-Memory Engine* (Yuan et al.,
2019) compresses networks with ADMM (structured pruning and quantization under the engine's
constraints). The shipped `pimc_*` models (`training/train_admm.py`, docs/training.md) are
LeNet-5 on MNIST and a small CNN on Fashion-MNIST: the 8-bit unpruned reference, binarized
weights, and ADMM and magnitude pruning at two keep ratios. They run on
`arch_configs/pim/pimc_sot.yaml`, whose compression-aware mapping leaves pruned filters and
columns out of the sub-arrays. Accuracy, energy, area and frames/s against the compression
rate, with the public API only (docs/reproducing-pim-admm.md: the VGG-16 hardware study)."""),
    new_code_cell(SETUP),
    new_code_cell("""import pandas as pd

NETS = {"lenet5": "mnist", "cnn": "fashion-mnist"}
METHODS = ["ref8", "binary", "magnitude_c2", "admm_c2", "magnitude_c4", "admm_c4"]


def frames_per_s(r):
    \"\"\"Steady-state throughput: the completion interval of images 2..N.\"\"\"
    ends = r.to_frame("accuracy")["end_cycle"].sort_values().to_numpy()
    if len(ends) >= 2 and ends[-1] > ends[0]:
        return (len(ends) - 1) / ((ends[-1] - ends[0]) * r.cycle_ns * 1e-9)
    return 1e9 / r.latency_ns


def compression(r):
    \"\"\"Weight storage against 32-bit float dense: 32 x all weights / sum of kept x bits.\"\"\"
    layers = r.metadata["layers"].values()
    total = sum(lay["weights"] for lay in layers)
    return 32 * total / sum(lay["weights_kept"] * lay["weight_bits"] for lay in layers)


rows = []
for net, data in NETS.items():
    for method in METHODS:
        name = f"pimc_{net}_{method}"
        design = archsim.load("builtin:pim/pimc_sot.yaml",
                              workload=f"builtin:workloads/pim_admm/{name}.yaml")
        r = archsim.run(design, images=IMAGES)
        rows.append({"model": name, "net": net, "dataset": data, "method": method,
                     "compression": compression(r), "accuracy": r.accuracy_fraction(),
                     "energy_uj": r.energy_pj() / r.images / 1e6,
                     "area_mm2": r.area_um2() / 1e6,
                     "subarrays": r.metadata["subarrays_used"],
                     "frames_per_s": frames_per_s(r)})
table = pd.DataFrame(rows).sort_values(["net", "compression"])
table.round(3)"""),
    new_code_cell("""import matplotlib.pyplot as plt

MARKERS = {"ref8": "o", "binary": "D", "magnitude": "s", "admm": "^"}
fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
quantities = [("accuracy", f"accuracy on {IMAGES} test images"),
              ("energy_uj", "energy per image (uJ)"), ("area_mm2", "area (mm^2)"),
              ("frames_per_s", "frames/s")]
for ax, (col, label) in zip(axes.flat, quantities, strict=True):
    for i, (net, part) in enumerate(table.groupby("net")):
        for kind, marker in MARKERS.items():
            pts = part[part["method"].str.startswith(kind)]
            ax.scatter(pts["compression"], pts[col], color=f"C{i}", marker=marker, alpha=0.8,
                       label=f"{net}, {kind}")
    ax.set_xscale("log")
    ax.set_xticks([4, 8, 16, 32, 64], labels=["4", "8", "16", "32", "64"])
    ax.minorticks_off()
    ax.set_ylabel(label)
axes[0, 0].legend(fontsize=7, ncol=2)
for ax in axes[1]:
    ax.set_xlabel("weight compression vs 32-bit float (x)")
plt.tight_layout()"""),
    new_markdown_cell("Relative to each network's 8-bit unpruned reference:"),
    new_code_cell("""ref = table[table["method"] == "ref8"].set_index("net")
rel = table.set_index("net")[["model", "compression"]].copy()
for col in ["energy_uj", "area_mm2", "frames_per_s"]:
    rel[col + " / ref8"] = table.set_index("net")[col] / ref[col]
rel.reset_index().round(3)"""),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    path = HERE / name
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating changes nothing
        cell.id = f"{path.stem.replace('_', '-')}-{i}"
    nbformat.write(nb, path)
    return path


def main() -> int:
    HERE.mkdir(exist_ok=True)
    for name, cells in (("dwcnn.ipynb", DWCNN), ("design_space_sweep.ipynb", SWEEP),
                        ("scbnn.ipynb", SCBNN), ("imce.ipynb", IMCE),
                        ("pim_admm.ipynb", PIM_ADMM)):
        print(write(name, cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
