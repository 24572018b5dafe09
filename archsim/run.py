"""One simulation run: config -> fabric network -> images -> engine -> RunResult.

``prepare_run`` does every load-time check a run needs (the fabric's mapping and checks, the
model weights, the data set, the probes) and elaborates the hardware; ``archsim validate``
calls it too, so it accepts exactly what ``run`` accepts.  ``run_config`` is the pure entry
point the CLI and the sweeps call: it prepares, simulates and returns the result object
(writers are separate).

The module is also the API function: ``archsim.run(design, ...)`` is :func:`archsim.api.run`
(:mod:`archsim.callmodule`; ``archsim.run`` can only be one object).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from archsim.callmodule import make_callable
from archsim.config.errors import ConfigError
from archsim.config.schema import DesignConfig
from archsim.engine.fabric import FabricNetwork, Probe, ProbeError
from archsim.engine.results import ImageRecord, RunResult
from archsim.fabrics import get_fabric
from archsim.seeds import derive_seed
from archsim.simulator import Image, SimTrace, simulate

make_callable(__name__, "run")


@dataclass
class RunOptions:
    """Command-line overrides of the config's data set section and the engine mode."""

    images: int | None = None
    start: int | None = None
    data_dir: str | None = None
    mode: str = "fast"
    keep_trace: bool = False
    probes: tuple[str, ...] = ()  # added to the config's probes
    probe_images: int = 1
    jobs: int = 1  # image-parallel worker processes (fast mode)


def load_images(cfg: DesignConfig, shape: tuple[int, ...], start: int, count: int,
                data_dir: str | None) -> tuple[Iterator[Image], str]:
    """The images of the run and a description of where they came from."""
    name = cfg.dataset.name
    if name == "random":
        def gen() -> Iterator[Image]:
            for i in range(start, start + count):
                rng = np.random.default_rng(derive_seed(cfg.seed, "image", i))
                yield Image(i, rng.integers(0, 256, size=shape, dtype=np.uint8), None)
        return gen(), f"random images (seed {cfg.seed})"
    if name == "custom":
        from archsim.workload.datasets import load_custom_images

        assert cfg.dataset.path is not None
        file = str(cfg.source_file) if cfg.source_file else "<config>"
        got = load_custom_images(cfg.dataset.path, shape, start, count, file=file)

        def gen_custom() -> Iterator[Image]:
            for i in range(len(got.images)):
                label = None if got.labels is None else int(got.labels[i])
                yield Image(start + i, got.images[i], label)
        return gen_custom(), got.source
    from archsim.nn.datasets import image_shape, load_dataset

    want = image_shape(name)
    if int(np.prod(shape)) != int(np.prod(want)):
        raise ConfigError(cfg.source_file, "dataset.name", name,
                          f"'random' (the network input {shape} does not take "
                          f"{'x'.join(map(str, want))} images)")
    images, labels, source = load_dataset(name, split="test", data_dir=data_dir, start=start,
                                          count=count)

    def gen_ds() -> Iterator[Image]:
        for i in range(len(images)):
            yield Image(start + i, images[i].reshape(shape), int(labels[i]))
    return gen_ds(), source


@dataclass
class PreparedRun:
    """A run whose inputs have all passed their checks: the elaborated network, the images,
    the probes and where the weights and images came from."""

    cfg: DesignConfig
    net: FabricNetwork
    images: Iterator[Image]
    count: int
    start: int
    source: str
    probes: list[Probe]
    weights_meta: dict
    elaboration_s: float


def prepare_run(cfg: DesignConfig, opts: RunOptions | None = None) -> PreparedRun:
    """Every check ``run`` does, and the elaborated hardware; raises ConfigError (or a
    DatasetError) naming the file and key before anything is simulated or written."""
    opts = opts or RunOptions()
    fabric = get_fabric(cfg.fabric)()
    t0 = time.perf_counter()
    net, wmeta = fabric.elaborate(cfg)
    elapsed = time.perf_counter() - t0
    count = opts.images if opts.images is not None else cfg.dataset.images
    start = opts.start if opts.start is not None else cfg.dataset.start
    images, source = load_images(cfg, fabric.input_shape(cfg), start, count, opts.data_dir)
    try:
        probes = net.parse_probes([*cfg.probes, *opts.probes])
    except ProbeError as e:
        raise ConfigError(cfg.source_file, f"probes[{e.index}]", e.value, e.expected) from e
    return PreparedRun(cfg, net, images, count, start, source, probes, wmeta, elapsed)


def run_config(cfg: DesignConfig, opts: RunOptions | None = None,
               progress: Callable[[ImageRecord], None] | None = None,
               prepared: PreparedRun | None = None) -> tuple[RunResult, SimTrace | None]:
    """Simulate a configuration; returns the result (and the bit trace if asked for)."""
    opts = opts or RunOptions()
    p = prepared or prepare_run(cfg, opts)
    t1 = time.perf_counter()
    result, trace = simulate(p.net, p.images, p.count, mode=opts.mode,
                             keep_trace=opts.keep_trace, progress=progress, probes=p.probes,
                             probe_images=opts.probe_images, jobs=opts.jobs)
    result.host_wall_s = {"elaboration": p.elaboration_s,
                          "simulation": time.perf_counter() - t1}
    result.config_resolved = cfg.resolved_dict()
    result.metadata.update({
        "dataset": p.source, "start": p.start, "model": p.weights_meta, "mode": opts.mode,
        "kernels": _kernel_backend(), "fabric": cfg.fabric, **p.net.metadata(),
    })
    return result, trace


def _kernel_backend() -> str:
    from archsim.sc import kernels

    return getattr(kernels, "BACKEND", "unknown")
