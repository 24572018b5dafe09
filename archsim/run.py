"""One simulation run: config -> images -> network -> engine -> RunResult.

``run_config`` is the pure entry point the CLI and the sweeps call: it takes a validated
config, simulates it, and returns the result object (writers are separate).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from archsim.config.errors import ConfigError
from archsim.config.schema import ArchConfig
from archsim.elaborate import model_weights, network_spec
from archsim.engine.results import ImageRecord, RunResult
from archsim.network import Network
from archsim.probes import ProbeError, parse_probes
from archsim.seeds import derive_seed
from archsim.simulator import Image, SimTrace, simulate


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


def load_images(cfg: ArchConfig, shape: tuple[int, int, int], start: int, count: int,
                data_dir: str | None) -> tuple[Iterator[Image], str]:
    """The images of the run and a description of where they came from."""
    name = cfg.dataset.name
    if name == "random":
        def gen() -> Iterator[Image]:
            for i in range(start, start + count):
                rng = np.random.default_rng(derive_seed(cfg.seed, "image", i))
                yield Image(i, rng.integers(0, 256, size=shape, dtype=np.uint8), None)
        return gen(), f"random images (seed {cfg.seed})"
    from archsim.nn.datasets import load_dataset

    if int(np.prod(shape)) != 784:
        raise ConfigError(cfg.source_file, "dataset.name", name,
                          f"'random' (the network input {shape} does not take 28x28 images)")
    images, labels, source = load_dataset(name, split="test", data_dir=data_dir, start=start,
                                          count=count)

    def gen_ds() -> Iterator[Image]:
        for i in range(len(images)):
            yield Image(start + i, images[i].reshape(shape), int(labels[i]))
    return gen_ds(), source


def run_config(cfg: ArchConfig, opts: RunOptions | None = None,
               progress: Callable[[ImageRecord], None] | None = None
               ) -> tuple[RunResult, SimTrace | None]:
    """Simulate a configuration; returns the result (and the bit trace if asked for)."""
    opts = opts or RunOptions()
    spec = network_spec(cfg)
    weights, wmeta = model_weights(cfg, spec)
    count = opts.images if opts.images is not None else cfg.dataset.images
    start = opts.start if opts.start is not None else cfg.dataset.start
    images, source = load_images(cfg, spec.input_shape, start, count, opts.data_dir)
    try:
        probes = parse_probes([*cfg.probes, *opts.probes], list(spec.layers))
    except ProbeError as e:
        raise ConfigError(cfg.source_file, f"probes[{e.index}]", e.value, e.expected) from e
    t0 = time.perf_counter()
    net = Network(spec, weights)
    t1 = time.perf_counter()
    result, trace = simulate(net, images, count, weights, mode=opts.mode,
                             keep_trace=opts.keep_trace, progress=progress, probes=probes,
                             probe_images=opts.probe_images, jobs=opts.jobs)
    result.host_wall_s = {"elaboration": t1 - t0, "simulation": time.perf_counter() - t1}
    result.config_resolved = cfg.resolved_dict()
    result.metadata.update({
        "dataset": source, "start": start, "model": wmeta, "mode": opts.mode,
        "kernels": _kernel_backend(),
        "btanh_r": {el.spec.name: el.r for el in net.layers if el.r},
        "depth_cycles": {el.spec.name: el.spec.depth_cycles for el in net.layers},
        "comparator": spec.comparator,
    })
    return result, trace


def _kernel_backend() -> str:
    from archsim.sc import kernels

    return getattr(kernels, "BACKEND", "unknown")
