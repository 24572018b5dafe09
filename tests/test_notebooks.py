"""The example notebooks: stored without outputs, and they run top to bottom.

Outputs are stripped in git (a notebook's results belong to whoever runs it): every code
cell has no outputs and no execution count. Executing them (nbclient, a fresh kernel per
notebook, ``ARCHSIM_NB_IMAGES=3`` images per run) shows the public API they use works.
``tools/make_notebooks.py`` writes them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    # one per family (SC streams, BNN, PIM bit-plane, compressed PIM) and the sweep
    assert {p.name for p in NOTEBOOKS} >= {"dwcnn.ipynb", "design_space_sweep.ipynb",
                                           "scbnn.ipynb", "imce.ipynb", "pim_admm.ipynb"}


def test_notebooks_are_the_generated_ones(tmp_path: Path, monkeypatch) -> None:
    """tools/make_notebooks.py writes exactly the committed notebooks (edit the tool, not
    the .ipynb)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_notebooks", EXAMPLES.parent / "tools" / "make_notebooks.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(tool, "HERE", tmp_path)
    assert tool.main() == 0
    made = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert made == sorted(p.name for p in NOTEBOOKS)
    for name in made:
        assert (tmp_path / name).read_text() == (EXAMPLES / name).read_text(), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stripped(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("ARCHSIM_NB_IMAGES", "3")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    # the file on disk is unchanged (outputs only in memory)
    assert all(c.outputs == [] for c in nbformat.read(path, as_version=4).cells
               if c.cell_type == "code")
