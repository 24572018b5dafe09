"""Accuracy of the shipped DoReFa models through the bit-exact bit-plane simulator equals the
quantized torch model's, on the same images.

The quick test runs the first 100 embedded test images of every model and compares the
simulator's predictions with the NumPy fixed-point reference and, when torch is installed,
with ``training/train_dorefa.quantized_eval`` image by image. The slow one (``pytest -m slow``)
runs the full 10,000-image test sets (a data directory in ARCHSIM_DATA) and compares with the
accuracy the training script recorded from the torch model (the README table).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from archsim.workload.models import BUILTIN_MODELS, builtin_model_path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))
MODELS = sorted(n for n in BUILTIN_MODELS if n.startswith("dorefa_"))


def test_every_dorefa_model_is_shipped_with_its_workload():
    assert len(MODELS) >= 6
    for name in MODELS:
        assert builtin_model_path(name).is_file()
        assert (ROOT / BUILTIN_MODELS[name].workload).is_file()
        assert builtin_model_path(name).stat().st_size < 200_000  # small compressed npz


@pytest.mark.parametrize("name", MODELS)
def test_simulator_equals_quantized_model_on_embedded_images(name, monkeypatch):
    from pim_accuracy import evaluate

    monkeypatch.delenv("ARCHSIM_DATA", raising=False)
    row = evaluate(name, None, 100)
    assert row["max_layer_error_vs_fixed_point_reference"] == 0.0
    if row["torch_accuracy"] is not None:
        assert row["predictions_differing"] == 0
        assert row["archsim_accuracy"] == row["torch_accuracy"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_simulator_equals_quantized_model_on_full_test_set(name):
    from pim_accuracy import evaluate

    data = os.environ.get("ARCHSIM_DATA")
    if not data:
        pytest.skip("ARCHSIM_DATA (the full MNIST / Fashion-MNIST test sets) is not set")
    row = evaluate(name, data, None)
    assert row["images"] == 10000
    meta = json.loads(str(np.load(builtin_model_path(name))["metadata"]))
    assert row["archsim_accuracy"] == meta["quantized_test_accuracy"]
    assert row["max_layer_error_vs_fixed_point_reference"] == 0.0
    if row["torch_accuracy"] is not None:
        assert row["predictions_differing"] == 0
