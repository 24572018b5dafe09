"""The one registry of built-in models: the ``.npz`` files shipped in ``archsim/models/``.

``builtin:<name>`` in a workload's ``model.weights`` names an entry of :data:`BUILTIN_MODELS`;
:func:`builtin_model_path` finds its file inside the installed package. Every entry names
the workload file it fits and the exact command that made it. Shipped: the SC LeNet-5 of
``arch_configs/workloads/lenet5.yaml`` (trained by the LeNet-only script that preceded
``archsim train``, docs/data-and-model.md; ``lenet5_mnist_apc_hil`` by ``archsim train``,
docs/training.md); the binarized MLPs of the BNN fabric (``training/train_bnn.py``); the DoReFa
low bit-width CNNs of the SOT-MRAM bit-plane fabric (``training/train_dorefa.py``,
docs/pim-bitplane.md); and the ADMM-compressed CNNs of the same fabric
(``training/train_admm.py``, docs/training.md).
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
_APC_DESIGN = "arch_configs/dwcnn/lenet5_dwm_sn128_fc-shared_sc.yaml"
_APC_TRAIN = (f"archsim train {_APC_DESIGN} --set layers.fc2.weights.length=32 --threads 1 "
              "--val-count 5000")
#: The six ``archsim train`` stages that made lenet5_mnist_apc_hw (ARCHSIM_DATA set).
_APC_HW_COMMANDS = " && ".join((
    f"{_APC_TRAIN} --out s1.npz --set model.weights=builtin:lenet5_mnist_apc_hil "
    "--hil-after conv2 --hil-images 55000 --calibrate 100 --epochs 6 --lr 5e-4",
    f"{_APC_TRAIN} --out s2.npz --set model.weights=s1.npz --hil-after fc1 --hil-images 40000 "
    "--calibrate 0 --tune noise_scale=11.5 --epochs 8 --lr 1e-3",
    f"{_APC_TRAIN} --out s3.npz --set model.weights=s2.npz --hil-after conv2 "
    "--hil-images 40000 --calibrate 100 --tune noise_scale=11.5 --epochs 6 --lr 5e-4",
    f"{_APC_TRAIN} --out s4.npz --set model.weights=s3.npz --hil-after fc1 --hil-images 40000 "
    "--calibrate 100 --calibrate-noise --tune noise_model=product --epochs 8 --lr 1e-3",
    f"{_APC_TRAIN} --out s5.npz --set model.weights=s4.npz --hil-after conv2 "
    "--hil-images 40000 --calibrate 100 --calibrate-noise --tune noise_model=product "
    "--epochs 6 --lr 5e-4",
    f"{_APC_TRAIN} --out lenet5_mnist_apc_hw.npz --set model.weights=s5.npz --hil-after fc1 "
    "--hil-images 40000 --calibrate 100 --calibrate-noise --tune noise_model=product "
    "--epochs 8 --lr 1e-3",
))
_BNN_FMNIST = "arch_configs/workloads/bnn_fmnist_mlp.yaml"
_BNN_MNIST = "arch_configs/workloads/bnn_mnist_mlp.yaml"
_TRAIN_BNN = "python training/train_bnn.py"
#: Presentation counts N of the shipped stochastic-input (adapted) BNN models.
BNN_PRESENTATIONS = (1, 2, 4, 8, 16, 32)

#: The (weight bits, activation bits) of the shipped DoReFa models.
DOREFA_WIDTHS = ((1, 2), (2, 2), (4, 4))
#: The compressed CNNs of the SOT-MRAM PIM engine (training/train_admm.py, docs/training.md):
#: (name, data set, description, command); each fits arch_configs/workloads/pim_admm/<name>.yaml.
_PIMC: tuple[tuple[str, str, str, str], ...] = (
    ("pimc_lenet5_ref8", "mnist",
     "lenet5 on mnist, float: 61470/61470 weights kept (1.0x), weight bits 8/8/8/8/8, "
     "activations 4 bits",
     "python training/train_admm.py --net lenet5 --method float --bits 8 --save-pretrained "
     "/tmp/admm/lenet5_pre.pt --name pimc_lenet5_ref8"),
    ("pimc_lenet5_admm_c2", "mnist",
     "lenet5 on mnist, admm: 31230/61470 weights kept (2.0x), weight bits 4/4/4/4/4, activations "
     "4 bits",
     "python training/train_admm.py --net lenet5 --method admm --init /tmp/admm/lenet5_pre.pt "
     "--keep conv1=1,conv2=0.5,fc1=0.5,fc2=0.5,fc3=1 --bits 4 --admm-epochs 6 --retrain-epochs 4 "
     "--admm-steps 117 --rho 0.05 --rho-mult 1.5 --name pimc_lenet5_admm_c2"),
    ("pimc_lenet5_magnitude_c2", "mnist",
     "lenet5 on mnist, magnitude: 31230/61470 weights kept (2.0x), weight bits 4/4/4/4/4, "
     "activations 4 bits",
     "python training/train_admm.py --net lenet5 --method magnitude --init "
     "/tmp/admm/lenet5_pre.pt --keep conv1=1,conv2=0.5,fc1=0.5,fc2=0.5,fc3=1 --bits 4 "
     "--admm-epochs 6 --retrain-epochs 4 --name pimc_lenet5_magnitude_c2"),
    ("pimc_lenet5_admm_c4", "mnist",
     "lenet5 on mnist, admm: 10035/61470 weights kept (6.1x), weight bits 3/3/3/3/3, activations "
     "4 bits",
     "python training/train_admm.py --net lenet5 --method admm --init /tmp/admm/lenet5_pre.pt "
     "--keep conv1=0.5,conv2=0.25,fc1=0.125,fc2=0.25,fc3=1 --bits 3 --admm-epochs 6 "
     "--retrain-epochs 4 --admm-steps 117 --rho 0.05 --rho-mult 1.5 --name pimc_lenet5_admm_c4"),
    ("pimc_lenet5_magnitude_c4", "mnist",
     "lenet5 on mnist, magnitude: 10035/61470 weights kept (6.1x), weight bits 3/3/3/3/3, "
     "activations 4 bits",
     "python training/train_admm.py --net lenet5 --method magnitude --init "
     "/tmp/admm/lenet5_pre.pt --keep conv1=0.5,conv2=0.25,fc1=0.125,fc2=0.25,fc3=1 --bits 3 "
     "--admm-epochs 6 --retrain-epochs 4 --name pimc_lenet5_magnitude_c4"),
    ("pimc_lenet5_binary", "mnist",
     "lenet5 on mnist, binary: 61470/61470 weights kept (1.0x), weight bits 1/1/1/1/1, "
     "activations 4 bits",
     "python training/train_admm.py --net lenet5 --method binary --init /tmp/admm/lenet5_pre.pt "
     "--max-train 20000 --name pimc_lenet5_binary"),
    ("pimc_cnn_ref8", "fashion-mnist",
     "cnn on fashion-mnist, float: 56592/56592 weights kept (1.0x), weight bits 8/8/8/8, "
     "activations 4 bits",
     "python training/train_admm.py --net cnn --method float --bits 8 --save-pretrained "
     "/tmp/admm/cnn_pre.pt --name pimc_cnn_ref8"),
    ("pimc_cnn_admm_c2", "fashion-mnist",
     "cnn on fashion-mnist, admm: 28688/56592 weights kept (2.0x), weight bits 4/4/4/4, "
     "activations 4 bits",
     "python training/train_admm.py --net cnn --method admm --init /tmp/admm/cnn_pre.pt --keep "
     "conv1=1,conv2=0.5,fc1=0.5,fc2=1 --bits 4 --admm-epochs 5 --retrain-epochs 3 --admm-steps "
     "94 --rho 0.05 --rho-mult 1.5 --name pimc_cnn_admm_c2"),
    ("pimc_cnn_magnitude_c2", "fashion-mnist",
     "cnn on fashion-mnist, magnitude: 28688/56592 weights kept (2.0x), weight bits 4/4/4/4, "
     "activations 4 bits",
     "python training/train_admm.py --net cnn --method magnitude --init /tmp/admm/cnn_pre.pt "
     "--keep conv1=1,conv2=0.5,fc1=0.5,fc2=1 --bits 4 --admm-epochs 5 --retrain-epochs 3 --name "
     "pimc_cnn_magnitude_c2"),
    ("pimc_cnn_admm_c4", "fashion-mnist",
     "cnn on fashion-mnist, admm: 8104/56592 weights kept (7.0x), weight bits 3/3/3/3, "
     "activations 4 bits",
     "python training/train_admm.py --net cnn --method admm --init /tmp/admm/cnn_pre.pt --keep "
     "conv1=0.5,conv2=0.25,fc1=0.125,fc2=0.75 --bits 3 --admm-epochs 5 --retrain-epochs 3 "
     "--admm-steps 94 --rho 0.05 --rho-mult 1.5 --name pimc_cnn_admm_c4"),
    ("pimc_cnn_magnitude_c4", "fashion-mnist",
     "cnn on fashion-mnist, magnitude: 8104/56592 weights kept (7.0x), weight bits 3/3/3/3, "
     "activations 4 bits",
     "python training/train_admm.py --net cnn --method magnitude --init /tmp/admm/cnn_pre.pt "
     "--keep conv1=0.5,conv2=0.25,fc1=0.125,fc2=0.75 --bits 3 --admm-epochs 5 --retrain-epochs 3 "
     "--name pimc_cnn_magnitude_c4"),
    ("pimc_cnn_binary", "fashion-mnist",
     "cnn on fashion-mnist, binary: 56592/56592 weights kept (1.0x), weight bits 1/1/1/1, "
     "activations 4 bits",
     "python training/train_admm.py --net cnn --method binary --init /tmp/admm/cnn_pre.pt "
     "--max-train 20000 --name pimc_cnn_binary"),
)

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
        BuiltinModel("lenet5_mnist_apc_hw", "lenet5_mnist_apc_hw.npz", "mnist", _LENET,
                     "the DW-CNN APC design's model (lenet5_dwm_sn128_fc-shared_sc.yaml): "
                     "lenet5_mnist_apc_hil fine-tuned by archsim train in six more "
                     "hardware-in-the-loop stages on 40,000-55,000 training images, the last "
                     "layer's training noise measured on the simulator (noise_model=product); "
                     "99.05 % on the MNIST test set; docs/accuracy.md",
                     _APC_HW_COMMANDS),
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
          for n in BNN_PRESENTATIONS),
        BuiltinModel("bnn_mnist_conv", "bnn_mnist_conv.npz", "mnist", _BNN_MNIST,
                     "binarized 784-1024-1024-10 MLP on MNIST, conventional training "
                     "(real-valued first-layer input p/255)",
                     f"{_TRAIN_BNN} --dataset mnist --input conventional --epochs 15 --lr 5e-3 "
                     "--checkpoint /tmp/bnn/mnist_conv.pt --out /tmp/bnn/bnn_mnist_conv.npz "
                     "--threads 1"),
        BuiltinModel("bnn_mnist_sc_n8", "bnn_mnist_sc_n8.npz", "mnist", _BNN_MNIST,
                     "bnn_mnist_conv fine-tuned with stochastic inputs (comparator SNG, fresh "
                     "bits per pass), 8 presentations combined by first-layer accumulation",
                     f"{_TRAIN_BNN} --dataset mnist --input stochastic --n 8 "
                     "--init /tmp/bnn/mnist_conv.pt --epochs 4 --lr 2e-3 --threads 1 "
                     "--out /tmp/bnn/bnn_mnist_sc_n8.npz"),
        *(BuiltinModel(f"dorefa_{tag}_w{m}a{k}", f"dorefa_{tag}_w{m}a{k}.npz", ds,
                       f"arch_configs/workloads/dorefa_{tag}_w{m}a{k}.yaml",
                       f"DoReFa CNN, {m}-bit weights, {k}-bit activations (QAT)")
          for tag, ds in (("mnist", "mnist"), ("fashion", "fashion-mnist"))
          for m, k in DOREFA_WIDTHS),
        *(BuiltinModel(name, f"{name}.npz", dataset, f"arch_configs/workloads/pim_admm/{name}.yaml",
                       description, command)
          for name, dataset, description, command in _PIMC),
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
