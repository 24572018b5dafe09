"""The one factory of workloads: YAML (or a dict) -> validated, shape-inferred :class:`Workload`.

:func:`load_workload` reads a workload file through the architecture loader
(:func:`archsim.config.loader.load_raw`: safe YAML, a key repeated in a mapping is an error,
``include:`` files merged, ``key.path=value`` overrides, relative ``model.weights`` paths
anchored at the file that wrote them), then

1. validates the document's structure against :mod:`archsim.workload.schema`, each entry of
   ``ops`` with the model of its ``op`` kind;
2. resolves names: unique op names, ``input`` and ``other`` refer to earlier ops, every key of
   ``model.layers`` names a weighted op;
3. infers every op's input and output shape in order, from ``input.shape``;
4. checks the data set against the input (MNIST images are 1x28x28).

Every problem is one :class:`~archsim.config.errors.ConfigError` naming the file the bad value
came from, its key path (``ops[3].kernel``), the value and what was expected. Nothing after the
factory touches the raw document.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ValidationError

from archsim.config.errors import MISSING, ConfigError, format_key_path
from archsim.config.loader import expected_from_message as _expected_from_msg
from archsim.config.loader import load_raw
from archsim.config.loader import origin_of as _origin
from archsim.config.schema import FieldProblem
from archsim.workload import ops as O
from archsim.workload.models import BUILTIN_MODELS
from archsim.workload.schema import (
    OP_SECTIONS,
    AddSection,
    BatchNormSection,
    BtanhSection,
    Conv2dSection,
    DenseSection,
    PoolSection,
    QuantizeSection,
    WorkloadFile,
)
from archsim.workload.workload import (
    INPUT,
    DataSource,
    InputSpec,
    LayerMeta,
    ModelSource,
    Workload,
)

__all__ = ["load_workload", "workload_from_dict"]

Loc = tuple[str | int, ...]
Origins = Mapping[Loc, str]


def _convert(err: Any, prefix: Loc) -> tuple[Loc, object, str]:
    """A pydantic error -> (location, value, expected)."""
    loc: Loc = (*prefix, *err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    problem = ctx.get("error")
    value: object = err.get("input")
    if isinstance(problem, FieldProblem):
        return (*loc, *problem.subpath), problem.value, problem.expected
    if kind == "missing":
        return loc, MISSING, f"a value for the required key {loc[-1]!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, value, "a mapping"
    if kind == "list_type":
        return loc, value, "a list"
    if kind == "too_short":
        return loc, value, f"at least {ctx.get('min_length')} item(s)"
    return loc, value, _expected_from_msg(err["msg"])


def _validate(model: type[BaseModel], data: Any, prefix: Loc, origins: Origins,
              fallback: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc, value, expected = _convert(e, prefix)
            errors.append(ConfigError(_origin(origins, loc, fallback), format_key_path(loc),
                                      value, expected))
        errors[0].others = errors[1:]
        raise errors[0] from None


def _resolve_path(text: str, origins: Origins, loc: Loc, fallback: str) -> Path:
    """A path written in a file, anchored at that file's folder (absolute paths kept)."""
    path = Path(text).expanduser()
    if path.is_absolute():
        return path
    origin = _origin(origins, loc, fallback)
    if origin.startswith("override ") or origin.startswith("<"):
        return path.resolve()
    return (Path(origin).resolve().parent / path).resolve()


class _Builder:
    """Builds the ops one by one, keeping the shapes seen so far."""

    def __init__(self, origins: Origins, fallback: str, input_shape: O.Shape) -> None:
        self.origins = origins
        self.fallback = fallback
        self.shapes: dict[str, O.Shape] = {INPUT: input_shape}
        self.index: dict[str, int] = {}
        self.ops: list[O.Op] = []
        self._raw_ops: list[Any] = []

    def error(self, loc: Loc, value: object, expected: str) -> ConfigError:
        return ConfigError(_origin(self.origins, loc, self.fallback), format_key_path(loc),
                           value, expected)

    def reference(self, i: int, key: str, name: str) -> str:
        """``name`` if an earlier op (or the input) has it; else an error at ``ops[i].<key>``."""
        if name in self.shapes:
            return name
        earlier = ", ".join(repr(n) for n in self.shapes)
        later = {o.get("name") for o in self._raw_ops[i:] if isinstance(o, dict)}
        why = " (an op reads only the input or earlier ops)" if name in later else ""
        raise self.error(("ops", i, key), name,
                         f"the name of an earlier op or 'input' ({earlier}){why}")

    def build(self, raw_ops: list[Any]) -> tuple[O.Op, ...]:
        self._raw_ops = raw_ops
        for i, raw in enumerate(raw_ops):
            self.ops.append(self._build_one(i, raw))
        return tuple(self.ops)

    def _build_one(self, i: int, raw: Any) -> O.Op:
        here: Loc = ("ops", i)
        if not isinstance(raw, dict):
            raise self.error(here, raw, "a mapping with 'name' and 'op' keys")
        kind = raw.get("op", MISSING)
        if kind not in OP_SECTIONS:
            raise self.error((*here, "op"), kind, f"one of {', '.join(OP_SECTIONS)}")
        sec = _validate(OP_SECTIONS[kind], raw, here, self.origins, self.fallback)
        name = sec.name
        if name == INPUT:
            raise self.error((*here, "name"), name, "an op name other than 'input' (the name "
                             "of the network input)")
        if name in self.index:
            raise self.error((*here, "name"), name,
                             f"a unique op name (ops[{self.index[name]}] is also named "
                             f"{name!r})")
        src = self.reference(i, "input", sec.input) if sec.input is not None else (
            self.ops[-1].name if self.ops else INPUT)
        in_shape = self.shapes[src]
        common: dict[str, Any] = dict(name=name, index=i, input=src, in_shape=in_shape)
        try:
            op = self._make(sec, common, in_shape, src, i)
        except O.ShapeProblem as p:
            loc = (*here, p.key) if p.key else here
            raise self.error(loc, p.value, p.expected) from None
        self.shapes[name] = op.out_shape
        self.index[name] = i
        return op

    def _make(self, sec: Any, common: dict[str, Any], in_shape: O.Shape, src: str,
              i: int) -> O.Op:
        if isinstance(sec, Conv2dSection):
            out = O.infer_conv2d(in_shape, src, sec.out_channels, sec.kernel, sec.stride,
                                 sec.padding, sec.groups)
            return O.Conv2d(**common, out_shape=out, out_channels=sec.out_channels,
                            kernel=sec.kernel, stride=sec.stride, padding=sec.padding,
                            groups=sec.groups, bias=sec.bias)
        if isinstance(sec, PoolSection):
            stride = sec.stride if sec.stride is not None else sec.kernel
            out = O.infer_pool(sec.op, in_shape, src, sec.kernel, stride)
            cls = O.MaxPool if sec.op == "maxpool" else O.AvgPool
            return cls(**common, out_shape=out, kernel=sec.kernel, stride=stride)
        if isinstance(sec, DenseSection):
            out = O.infer_dense(in_shape, src, sec.outputs)
            return O.Dense(**common, out_shape=out, outputs=sec.outputs, bias=sec.bias)
        if sec.op == "flatten":
            return O.Flatten(**common, out_shape=O.infer_flatten(in_shape))
        if isinstance(sec, BtanhSection):
            return O.Btanh(**common, out_shape=in_shape, s=float(sec.s))
        if isinstance(sec, QuantizeSection):
            return O.Quantize(**common, out_shape=in_shape, bits=sec.bits)
        if isinstance(sec, BatchNormSection):
            return O.BatchNorm(**common, out_shape=in_shape, eps=float(sec.eps))
        if isinstance(sec, AddSection):
            other = self.reference(i, "other", sec.other)
            if self.shapes[other] != in_shape:
                raise O.ShapeProblem(
                    "other", other,
                    f"an op whose output has this op's input shape {in_shape} (from {src!r}); "
                    f"{other!r} produces {self.shapes[other]}")
            return O.Add(**common, out_shape=in_shape, other=other)
        simple: dict[str, type[O.Op]] = {"sign": O.Sign, "relu": O.Relu, "none": O.Identity}
        return simple[sec.op](**common, out_shape=in_shape)


def _build(raw: dict[str, Any], origins: Origins, fallback: str,
           source_file: Path | None) -> Workload:
    top = _validate(WorkloadFile, raw, (), origins, fallback)
    builder = _Builder(origins, fallback, top.input.shape)
    ops = builder.build(top.ops)

    def err(loc: Loc, value: object, expected: str) -> ConfigError:
        return ConfigError(_origin(origins, loc, fallback), format_key_path(loc), value,
                           expected)

    # model
    weighted = [op.name for op in ops if isinstance(op, O.WeightedOp)]
    layers: dict[str, LayerMeta] = {}
    for name, meta in top.model.layers.items():
        if name not in weighted:
            raise err(("model", "layers", name), name,
                      f"the name of a conv2d or dense op ({', '.join(weighted) or 'none'})")
        mask = (_resolve_path(meta.mask, origins, ("model", "layers", name, "mask"), fallback)
                if meta.mask is not None else None)
        if mask is not None and not mask.is_file():
            raise err(("model", "layers", name, "mask"), meta.mask,
                      f"an existing .npz file (looked for {mask})")
        layers[name] = LayerMeta(bits=meta.bits, quantizer=meta.quantizer, mask=mask,
                                sparsity=meta.sparsity)
    weights = top.model.weights
    if weights.startswith("builtin:"):
        key = weights.split(":", 1)[1]
        if key not in BUILTIN_MODELS:
            raise err(("model", "weights"), weights,
                      f"a built-in model: one of {['builtin:' + k for k in BUILTIN_MODELS]}")
    elif weights != "random":
        path = _resolve_path(weights, origins, ("model", "weights"), fallback)
        if not path.is_file():
            raise err(("model", "weights"), weights, f"an existing .npz file (looked for {path})")
        weights = str(path)
    model = ModelSource(weights=weights, seed=top.model.seed if top.model.seed is not None else 1,
                        clip=top.model.clip, layers=MappingProxyType(layers))

    # dataset
    ds = top.dataset
    ds_path: Path | None = None
    if ds.path is not None:
        ds_path = _resolve_path(ds.path, origins, ("dataset", "path"), fallback)
        if not ds_path.exists():
            raise err(("dataset", "path"), ds.path,
                      f"an existing folder of images or .npz file (looked for {ds_path})")
    if ds.name not in ("random", "custom"):
        from archsim.nn.datasets import image_shape

        want = image_shape(ds.name)
        if top.input.shape != want:
            raise err(("dataset", "name"), ds.name,
                      f"a data set of {list(top.input.shape)} images: {ds.name} images are "
                      f"{'x'.join(map(str, want))} but input.shape is "
                      f"{list(top.input.shape)} ('random' or 'custom' for other shapes)")
    dataset = DataSource(name=ds.name, path=ds_path, split=ds.split or "test",
                         seed=ds.seed if ds.seed is not None else 1, start=ds.start,
                         images=ds.images)
    return Workload(
        name=top.name, description=top.description,
        input=InputSpec(shape=top.input.shape, mapping=top.input.mapping),
        dataset=dataset, model=model, ops=ops, source_file=source_file,
        origins=MappingProxyType(dict(origins)),
    )


def load_workload(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> Workload:
    """Load, merge (``include:``), override and validate a workload file.

    ``overrides`` are ``key.path=value`` strings (``ops.conv1.kernel=3``,
    ``model.weights=builtin:lenet5_fashion``), applied before validation. Raises
    :class:`~archsim.config.errors.ConfigError` naming the file, key path, value and what was
    expected.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    raw, origins = load_raw(path, list(overrides))
    return _build(raw, origins, origins[()], Path(path))


def workload_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Workload:
    """Validate a workload given as plain data (as a YAML file would hold it). Relative
    paths are taken relative to the working directory; errors name ``source`` as the file."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, "", data, "a mapping of top-level keys (input, ops, ...)")
    raw = dict(data)
    raw.setdefault("name", "workload")
    return _build(raw, {(): f"<{source.strip('<>')}>"}, f"<{source.strip('<>')}>", None)
