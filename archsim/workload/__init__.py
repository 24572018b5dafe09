"""archsim.workload: the network an accelerator runs, described apart from the accelerator.

A workload file (YAML, docs/workloads.md) gives the input shape and pixel mapping, the data
set, the model (weights source, per-layer quantization bits and pruning masks) and an ordered
list of ops (conv2d, maxpool, avgpool, dense, flatten, btanh, sign, relu, quantize, none,
batchnorm, add). From it:

* :func:`load_workload` -> :class:`Workload` (frozen; every op with ``in_shape``,
  ``out_shape``, ``weight_shape``, ``fan_in`` - bias not counted);
* :func:`load_weights` -> :class:`WorkloadWeights` (the one loader; built-in models in
  :data:`BUILTIN_MODELS`);
* :func:`load_images` -> :class:`ImageSet` (MNIST, Fashion-MNIST, random, image folders,
  .npz);
* :func:`reference_forward` -> every op's float64 output (bit-exact with
  the float reference the SC fabric had before the workload split, kept as a record in
  ``tests/test_workload_forward.py``, on the SC LeNet-5).

Every problem in a file is a :class:`~archsim.config.errors.ConfigError` naming the file, the
key path, the value and what was expected.
"""

from archsim.workload.batchnorm import (
    BatchNormParams,
    SignThresholds,
    apply_sign_thresholds,
    batchnorm,
    fold_into_layer,
    scale_shift,
    sign_thresholds,
)
from archsim.workload.datasets import ImageSet, load_images
from archsim.workload.factory import load_workload, workload_from_dict
from archsim.workload.forward import layer_outputs, map_input, predict, reference_forward
from archsim.workload.models import BUILTIN_MODELS, BuiltinModel, builtin_model_path
from archsim.workload.ops import (
    OP_KINDS,
    Activation,
    Add,
    AvgPool,
    BatchNorm,
    Btanh,
    Conv2d,
    Dense,
    Flatten,
    Identity,
    MaxPool,
    Op,
    Pool,
    Quantize,
    Relu,
    Sign,
    WeightedOp,
)
from archsim.workload.quantize import quantize_activation, quantize_weights
from archsim.workload.weights import LayerParams, WorkloadWeights, load_weights, save_weights
from archsim.workload.workload import (
    INPUT,
    DataSource,
    InputSpec,
    LayerMeta,
    ModelSource,
    Stage,
    Workload,
)

__all__ = [
    "BUILTIN_MODELS",
    "INPUT",
    "OP_KINDS",
    "Activation",
    "Add",
    "AvgPool",
    "BatchNorm",
    "BatchNormParams",
    "Btanh",
    "BuiltinModel",
    "Conv2d",
    "DataSource",
    "Dense",
    "Flatten",
    "Identity",
    "ImageSet",
    "InputSpec",
    "LayerMeta",
    "LayerParams",
    "MaxPool",
    "ModelSource",
    "Op",
    "Pool",
    "Quantize",
    "Relu",
    "Sign",
    "SignThresholds",
    "Stage",
    "WeightedOp",
    "Workload",
    "WorkloadWeights",
    "apply_sign_thresholds",
    "batchnorm",
    "builtin_model_path",
    "fold_into_layer",
    "layer_outputs",
    "load_images",
    "load_weights",
    "load_workload",
    "map_input",
    "predict",
    "quantize_activation",
    "quantize_weights",
    "reference_forward",
    "save_weights",
    "scale_shift",
    "sign_thresholds",
    "workload_from_dict",
]
