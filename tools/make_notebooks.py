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


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    path = HERE / name
    nbformat.write(nb, path)
    return path


def main() -> int:
    HERE.mkdir(exist_ok=True)
    for name, cells in (("dwcnn.ipynb", DWCNN), ("design_space_sweep.ipynb", SWEEP)):
        print(write(name, cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
