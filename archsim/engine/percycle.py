"""The per-cycle reference engine: every hardware block of every layer is its own SimPy process.

For each layer the fabric declares a memory block (whose accesses set how long each step's
data takes to arrive) and a pipeline of datapath blocks (``LayerModel.stages()``, each with
its latency).  This engine builds, per layer:

* a **memory** process: after the datapath consumed step s-1 at cycle c, it runs the access of
  step s (``PerCycleModel.access``: the nanowire heads shift, the SRAM reads ...) and
  delivers its data at ``c + interval``;
* a **front** process (the first stage, e.g. the XNOR array): it takes step s when the memory
  has delivered, the input token the step needs has been produced by the previous layer
  (token ``s mod tokens_in``, or the last token for a layer that waits for the whole image),
  and, for the step that emits the first token of an image, the next layer has released the
  previous image (the buffer of one image between layers).  That cycle is consume[s];
* one process per further stage (counter, pooling, Btanh, ...), connected by channels: a step
  entering stage i at cycle c leaves it at ``c + latency_i``; the last stage's output token is
  produced at ``consume[s] + depth_cycles``.

Each block handles at most one step per cycle, and each step's work is computed by the
fabric's per-cycle reference (no packed kernel, no recurrence solved): this is the oracle the
fast engine is held to (same cycles, action counts and bits).  It knows a network only
through the fabric interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from archsim.engine.env import CycleEnvironment
from archsim.engine.fabric import Actions, LayerModel, PerCycleModel

if TYPE_CHECKING:
    from archsim.simulator import Image, _Run


@dataclass
class _ImageJob:
    """One image's pass through one layer, carried along the layer's pipeline."""

    k: int
    img: Image
    model: PerCycleModel  # this image's per-cycle model (its blocks' per-image state)
    steps: int
    emit_from: int
    consume: np.ndarray
    times: np.ndarray  # cycle each output token is produced (-1: not yet)
    tokens: list[np.ndarray] = field(default_factory=list)
    acts: Actions = field(default_factory=dict)
    stall: int = 0
    backpressure: int = 0
    input_wait: int = 0


class _LayerPorts:
    """What the next layer sees of a layer: its output tokens, their cycles, and an event per
    token that fires when it is produced."""

    def __init__(self, env: CycleEnvironment) -> None:
        self.env = env
        self.jobs: dict[int, _ImageJob] = {}
        self.events: dict[tuple[int, int], simpy.Event] = {}

    def produced(self, k: int, j: int) -> simpy.Event | None:
        """None if token j of image k is available now, else the event of its production."""
        job = self.jobs.get(k)
        if job is not None and 0 <= job.times[j] <= self.env.now:
            return None
        ev = self.events.get((k, j))
        if ev is None:
            ev = self.events[(k, j)] = self.env.event()
        return ev

    def publish(self, k: int, j: int) -> None:
        ev = self.events.pop((k, j), None)
        if ev is not None:
            ev.succeed()


class PerCycleEngine:
    """Builds the block processes of every layer of ``run.net`` over ``images``."""

    def __init__(self, env: CycleEnvironment, run: _Run, images: list[Image]) -> None:
        self.env, self.run, self.images = env, run, images
        net = run.net
        self.inputs = [net.input_token_array(img.pixels) for img in images]
        self.ports = [_LayerPorts(env) for _ in net.layers]
        self.values: dict[int, list[np.ndarray]] = {}
        self.start: dict[int, int] = {}
        for i, lay in enumerate(net.layers):
            self._build(i, lay)

    # ------------------------------------------------------------------ a layer
    def _build(self, i: int, lay: LayerModel) -> None:
        env = self.env
        stages = lay.stages()
        if sum(st.latency_cycles for st in stages) != lay.depth_cycles:
            raise ValueError(f"layer {lay.name!r}: stage latencies {stages} do not add up to "
                             f"its depth_cycles={lay.depth_cycles}")
        delivered = simpy.Store(env)  # memory -> front: (model, step, interval, actions)
        consumed = simpy.Store(env)  # front -> memory: the cycle a step was consumed
        chans = [simpy.Store(env) for _ in stages[1:]]
        env.process(self._memory(lay, consumed, delivered))
        env.process(self._front(i, lay, delivered, consumed, chans[0] if chans else None,
                                stages[0].latency_cycles, last=not chans))
        for n in range(1, len(stages)):
            env.process(self._stage(i, lay, n, chans[n - 1],
                                    chans[n] if n < len(chans) else None,
                                    stages[n].latency_cycles, last=n == len(stages) - 1))

    def _memory(self, lay: LayerModel, consumed: simpy.Store, delivered: simpy.Store):
        env = self.env
        prev = self.run.clocks[lay.name].c_prev  # load cycles - 1
        probes = [p for p in self.run.probes if p.layer == lay.name]
        for n, img in enumerate(self.images):
            model = lay.percycle()  # the image's blocks start afresh; the memory keeps its state
            model.reset(img.index)
            if n < self.run.probe_images:
                model.watch(probes)
            for s in range(model.steps):
                if s > 0 or n > 0:
                    prev = yield consumed.get()
                interval, acts = model.access(s)
                ready = prev + interval
                if ready > env.now:
                    yield env.timeout(ready - env.now)
                yield delivered.put((model, s, interval, acts))

    def _front(self, i: int, lay: LayerModel, delivered: simpy.Store, consumed: simpy.Store,
               out: simpy.Store | None, latency: int, last: bool):
        env, run = self.env, self.run
        n_layers = len(run.net.layers)
        clk = run.clocks[lay.name]
        for k, img in enumerate(self.images):
            model, s, interval, acts = yield delivered.get()
            S, emit = model.steps, model.emit_from
            job = _ImageJob(k, img, model, S, emit, np.zeros(S, dtype=np.int64),
                            np.full(S - emit, -1, dtype=np.int64))
            self.ports[i].jobs[k] = job
            while True:
                delivered_at = int(env.now)
                if s == job.emit_from and k > 0 and i < n_layers - 1:
                    # backpressure: the next layer must be done with image k-1
                    yield run.release_event(env, i + 1, k - 1)
                    gate = run.released[i + 1][k - 1] + 1
                    if gate > env.now:
                        yield env.timeout(gate - env.now)
                gated_at = int(env.now)
                token = yield from self._input_token(i, lay, k, s)
                c = int(env.now)
                job.backpressure += gated_at - delivered_at
                if k > 0 or s > 0:  # before its first step the layer has not started
                    job.input_wait += c - gated_at
                else:  # the first step's memory stall, before the layer's first consume
                    clk.lead = interval - 1
                clk.c_prev = c
                job.consume[s] = c
                job.stall += interval - 1
                for block, counts in acts.items():
                    d = job.acts.setdefault(block, {})
                    for a, n in counts.items():
                        d[a] = d.get(a, 0) + n
                if s == job.steps - 1:
                    run.release(env, i, k, c)
                if s < job.steps - 1 or k < len(self.images) - 1:
                    consumed.put(c)
                self._after(latency, self._pass(i, lay, job, s, model.stage(0, s, token), out,
                                                last))
                if s == job.steps - 1:
                    break
                _, s, interval, acts = yield delivered.get()

    def _input_token(self, i: int, lay: LayerModel, k: int, s: int):
        """Wait until the input token step s needs has been produced; return it."""
        if i == 0:
            toks = self.inputs[k]
            return toks[len(toks) - 1 if lay.waits_for == "image" else s % len(toks)]
        up = self.ports[i - 1]
        while k not in up.jobs:  # the previous layer has not started this image yet
            yield self.env.timeout(1)
        prev = up.jobs[k]
        n_in = len(prev.times)
        j = n_in - 1 if lay.waits_for == "image" else s % n_in
        ev = up.produced(k, j)
        if ev is not None:
            yield ev
        return prev.tokens[j]

    def _stage(self, i: int, lay: LayerModel, n: int, inbox: simpy.Store,
               out: simpy.Store | None, latency: int, last: bool):
        while True:
            job, s, data = yield inbox.get()
            self._after(latency, self._pass(i, lay, job, s, job.model.stage(n, s, data), out,
                                            last))

    def _after(self, latency: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` ``latency`` cycles from now (at once for a combinational stage)."""
        if latency == 0:
            fn()
        else:
            self.env.timeout(latency).callbacks.append(lambda _ev: fn())

    def _pass(self, i: int, lay: LayerModel, job: _ImageJob, s: int, result: Any,
              out: simpy.Store | None, last: bool) -> Callable[[], None]:
        """What leaving a stage does: hand the step to the next stage, or (last stage)
        produce its output token."""
        if last:
            return lambda: self._produce(i, lay, job, s, result)

        def hand_on() -> None:
            assert out is not None
            out.put((job, s, result))
        return hand_on

    def _produce(self, i: int, lay: LayerModel, job: _ImageJob, s: int, token: Any) -> None:
        run = self.run
        if s < job.emit_from:
            return
        j = s - job.emit_from
        job.tokens.append(token)
        job.times[j] = int(self.env.now)
        self.ports[i].publish(job.k, j)
        if s < job.steps - 1:
            return
        k = job.k
        if i == 0:
            self.start[k] = int(job.consume[0])
            run.record_input(k, int(job.consume[-1]))
        run.record_layer_image(lay, k, job.acts, int(job.consume[0]), int(job.consume[-1]),
                               job.steps, job.times, job.stall, job.backpressure,
                               job.input_wait)
        if k < run.probe_images:  # the signals the blocks recorded while they stepped
            for p in run.probes:
                if p.layer == lay.name:
                    run.add_probe_samples(p, lay, *job.model.probe_samples(p, job.consume,
                                                                           job.times))
        result = job.model.finish(job.tokens)
        if run.trace is not None:
            run.trace.layer_bits.setdefault(lay.name, []).append(result.trace_bits)
            run.trace.produce.setdefault(lay.name, []).append(job.times)
        assert result.value is not None, f"{lay.name}: a layer's output has a value"
        self.values.setdefault(k, []).append(result.value)
        self.ports[i].jobs.pop(k - 2, None)
        if i == len(run.net.layers) - 1:
            assert result.scores is not None
            run.finish_image(job.img, self.values.pop(k), result.scores, self.start[k],
                             int(job.times[-1]))
