"""The one registry of built-in models: the ``.npz`` files shipped in ``archsim/models/``.

``builtin:<name>`` in a workload's ``model.weights`` names an entry of :data:`BUILTIN_MODELS`;
:func:`builtin_model_path` finds its file inside the installed package. Every shipped model is
either the SC LeNet-5 of ``arch_configs/workloads/lenet5.yaml`` (1x28x28 -> 10), trained by
the LeNet-only script that preceded ``archsim train`` (docs/data-and-model.md says how each
one was made; docs/training.md and docs/accuracy.md for ``lenet5_mnist_apc_hil``, made by
``archsim train``), or a DoReFa low bit-width CNN for the SOT-MRAM bit-plane fabric, trained
by ``training/train_dorefa.py`` (its workload file ``arch_configs/workloads/<name>.yaml``;
docs/pim-bitplane.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["BNN_PRESENTATIONS", "BUILTIN_MODELS", "DOREFA_WIDTHS", "BuiltinModel",
           "builtin_model_path", "models_dir"]


@dataclass(frozen=True)
class BuiltinModel:
    """A model shipped with archsim: its file in ``archsim/models/``, the data set it was
    trained on, the workload file it fits, what it is for and the command that made it
    (empty where docs/data-and-model.md gives it)."""

    name: str
    file: str
    dataset: str
    workload: str
    description: str
    command: str = ""


_LENET = "arch_configs/workloads/lenet5.yaml"
_BNN_FMNIST = "arch_configs/workloads/bnn_fmnist_mlp.yaml"
_TRAIN_BNN = "python training/train_bnn.py"
#: Presentation counts N of the shipped stochastic-input (adapted) BNN models.
BNN_PRESENTATIONS = (1, 2, 4, 8, 16, 32)

#: The (weight bits, activation bits) of the shipped DoReFa models.
DOREFA_WIDTHS = ((1, 2), (2, 2), (4, 4))

#: Built-in model name -> entry. The test suite holds this table to the folder's files.
BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel("lenet5_mnist", "lenet5_mnist.npz", "mnist", _LENET,
                     "float training with exact inner products and SC-aware noise"),
        BuiltinModel("lenet5_fashion", "lenet5_fashion.npz", "fashion-mnist", _LENET,
                     "as lenet5_mnist, on Fashion-MNIST"),
        BuiltinModel("lenet5_mnist_apc", "lenet5_mnist_apc.npz", "mnist", _LENET,
                     "trained on the APC's expected count (approximate parallel counters)"),
        BuiltinModel("lenet5_mnist_sc", "lenet5_mnist_sc.npz", "mnist", _LENET,
                     "lenet5_mnist fine-tuned through the hardware model of the SC datapath "
                     "(exact counters)"),
        BuiltinModel("lenet5_mnist_apc_sc", "lenet5_mnist_apc_sc.npz", "mnist", _LENET,
                     "lenet5_mnist_apc fine-tuned through the hardware model (APC, MUX-shared "
                     "FC)"),
        BuiltinModel("lenet5_mnist_apc_hil", "lenet5_mnist_apc_hil.npz", "mnist", _LENET,
                     "lenet5_mnist_apc_sc fine-tuned by archsim train with the hardware in the "
                     "loop (fc1 on the simulator's conv2 outputs, fc2 on its fc1 outputs; APC, "
                     "MUX-shared FC; fc2 on the 32-level grid); docs/accuracy.md"),
        BuiltinModel("bnn_fmnist_conv", "bnn_fmnist_conv.npz", "fashion-mnist", _BNN_FMNIST,
                     "binarized 784-1024-1024-10 MLP, conventional training (real-valued "
                     "first-layer input p/255)",
                     f"{_TRAIN_BNN} --dataset fashion-mnist --input conventional --epochs 15 "
                     "--lr 5e-3 --checkpoint /tmp/bnn/fmnist_conv.pt "
                     "--out /tmp/bnn/bnn_fmnist_conv.npz"),
        *(BuiltinModel(f"bnn_fmnist_sc_n{n}", f"bnn_fmnist_sc_n{n}.npz", "fashion-mnist",
                       _BNN_FMNIST,
                       f"bnn_fmnist_conv fine-tuned with stochastic inputs (comparator SNG, "
                       f"fresh bits per pass), {n} presentation(s) combined by first-layer "
                       "accumulation",
                       f"{_TRAIN_BNN} --dataset fashion-mnist --input stochastic --n {n} "
                       f"--init /tmp/bnn/fmnist_conv.pt --epochs {4 if n <= 8 else 2} --lr 2e-3"
                       # N = 1, 2 were trained when the SNG drew 0..255 (docs/training.md)
                       + (" --sng-levels 256" if n <= 2 else ""))
          for n in (1, 2, 4, 8)),
        *(BuiltinModel(f"dorefa_{tag}_w{m}a{k}", f"dorefa_{tag}_w{m}a{k}.npz", ds,
                       f"arch_configs/workloads/dorefa_{tag}_w{m}a{k}.yaml",
                       f"DoReFa CNN, {m}-bit weights, {k}-bit activations (QAT)")
          for tag, ds in (("mnist", "mnist"), ("fashion", "fashion-mnist"))
          for m, k in DOREFA_WIDTHS),
    )
}


def models_dir() -> Path:
    """The folder of the shipped models inside the installed package."""
    return Path(str(resources.files("archsim") / "models"))


def builtin_model_path(name: str) -> Path:
    """Path of built-in model ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        entry = BUILTIN_MODELS[name]
    except KeyError:
        raise KeyError(f"no built-in model {name!r}; known: {sorted(BUILTIN_MODELS)}") from None
    return models_dir() / entry.file
