"""Run an elaborated network on images: the fast engine and the per-cycle reference engine.

Both engines are SimPy models in which every layer is a process, and both produce the same
bits, cycle counts and action counts (tests hold them to it; that agreement is what
"cycle-accurate" means in archsim).

* **fast**: a layer process takes a whole image's input streams at once, computes its output
  streams with the packed bit kernels, solves the streaming recurrence

      consume(t) = max(produce_prev(t), consume(t-1) + interval(t))
      produce(t) = consume(t) + depth

  with NumPy, and yields to SimPy only at the first and last produced bit of the image (a
  few events per layer per image).
* **per-cycle**: every layer process advances one cycle at a time, consumes one bit when
  its input has been produced and its weight memory is ready, and computes that bit with
  the per-cycle reference datapath (no packed kernels).

``interval(t)`` is the weight memory's delivery interval for stream bit t (DWM shifts that
do not fit in a cycle stall the layer); ``depth`` is the layer's pipeline depth.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import simpy
from threadpoolctl import threadpool_limits

from archsim.blocks.datapath import compute_layer, flip_outputs, output_flip_mask
from archsim.blocks.percycle import PerCycleLayer
from archsim.blocks.streams import input_streams
from archsim.engine.env import CycleEnvironment
from archsim.engine.results import ImageRecord, LayerTiming, ProbeTrace, RunResult, Span
from archsim.network import ElaboratedLayer, Network, float_forward
from archsim.probes import Probe, sample
from archsim.sc import kernels as K


@dataclass
class Image:
    """One input image: pixels (C, H, W) uint8, its label (or None) and its data-set index."""

    index: int
    pixels: np.ndarray
    label: int | None = None
    # per-layer SC-vs-float errors and the float prediction, when a worker computed them
    reference: tuple[dict[str, float], int] | None = None


@dataclass
class SimTrace:
    """Bit- and cycle-level detail kept for verification (small runs only)."""

    layer_bits: dict[str, list[np.ndarray]] = field(default_factory=dict)  # packed per image
    produce: dict[str, list[np.ndarray]] = field(default_factory=dict)  # cycle per bit
    counts_sum: list[np.ndarray] = field(default_factory=list)


@dataclass
class _LayerClock:
    """Streaming state of one layer across images."""

    c_prev: int
    first: int | None = None
    last_produce: int = 0
    busy: int = 0
    stall: int = 0


class _Run:
    """Shared bookkeeping of one simulation (ledger, spans, per-image records)."""

    def __init__(self, net: Network, float_weights, keep_trace: bool,
                 progress: Callable[[ImageRecord], None] | None,
                 probes: list[Probe] | None = None, probe_images: int = 1) -> None:
        self.net = net
        self.probes = probes or []
        self.probe_images = probe_images
        self.probe_traces: dict[str, ProbeTrace] = {}
        self.float_weights = float_weights
        self.ledger = net.new_ledger()
        self.spans: list[Span] = []
        self.records: list[ImageRecord] = []
        self.trace = SimTrace() if keep_trace else None
        self.progress = progress
        loads = net.load_cycles()
        # per layer: (steps array, intervals, their cumsum, stall, shift steps) of the last
        # head state seen (see _step_timing)
        self.step_timing: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int, int]] = {}
        self.clocks = {el.spec.name: _LayerClock(c_prev=loads[el.spec.name] - 1)
                       for el in net.layers}
        # inter-layer buffer of one image: layer i may start image k+1 only after layer i+1
        # has consumed the last bit of image k (cycle released[i+1][k])
        self.released: list[dict[int, int]] = [{} for _ in net.layers]
        self.release_events: list[dict[int, simpy.Event]] = [{} for _ in net.layers]
        self.end_cycle = 0
        for el in net.layers:
            for block, acts in el.hw.load_actions(el.weights.load_read_errors).items():
                for action, n in acts.items():
                    self.ledger.record(el.hw.blocks[block], action, n,
                                       max(0, loads[el.spec.name]), image=-1)

    def release_event(self, env, i: int, k: int) -> simpy.Event:
        """Triggered when layer i has consumed the last bit of image k."""
        ev = self.release_events[i].get(k)
        if ev is None:
            ev = self.release_events[i][k] = env.event()
            if k in self.released[i]:
                ev.succeed()
        return ev

    def release(self, env, i: int, k: int, cycle: int) -> None:
        self.released[i][k] = cycle
        self.released[i].pop(k - 2, None)
        self.release_events[i].pop(k - 2, None)
        ev = self.release_events[i].get(k)
        if ev is not None and not ev.triggered:
            ev.succeed()

    def record_layer_image(self, el: ElaboratedLayer, k: int, acts: dict[str, dict[str, int]],
                           first_consume: int, last_consume: int, n_consume: int,
                           produce: np.ndarray, stall: int) -> None:
        """Ledger, clock and spans of one layer's image: its bits consumed from cycle
        ``first_consume`` to ``last_consume`` (``n_consume`` bits), output bits at ``produce``."""
        name = el.spec.name
        clk = self.clocks[name]
        end = int(produce[-1])
        for block, counts in acts.items():
            for action, n in counts.items():
                self.ledger.record(el.hw.blocks[block], action, n, end, image=k)
        if clk.first is None:
            clk.first = int(first_consume)
        clk.last_produce = end
        clk.busy += n_consume
        clk.stall += stall
        self.spans.append(Span(name, "datapath", int(first_consume), int(last_consume) + 1, k,
                               "consume"))
        self.spans.append(Span(name, "output", int(produce[0]), end + 1, k, "produce"))
        self.end_cycle = max(self.end_cycle, end + 1)

    def sample_probe(self, p: Probe, el: ElaboratedLayer, out, steps, consume, produce) -> None:
        select = getattr(el.weights, "select", None)
        cycles, values = sample(p, el.spec, el.r, out.counts, out.pool_select, select,
                                el.store.address, steps, consume, produce,
                                self.net.spec.stream_length)
        period = max(1, el.store.period)
        tr = self.probe_traces.setdefault(p.name, ProbeTrace(p.name, p.width(el.spec, el.r,
                                                                              period)))
        for c, v in zip(cycles.tolist(), values.tolist(), strict=True):
            tr.change(c, v)

    def record_input(self, k: int, cycle: int) -> None:
        L = self.net.spec.stream_length
        for name, action in (("sng", "generate"), ("rng", "step")):
            blk = self.net.input_blocks[name]
            self.ledger.record(blk, action, blk.instances * L, cycle, image=k)

    def finish_image(self, img: Image, k_pos: int, layer_values: list[np.ndarray],
                     counts_sum: np.ndarray, start: int, end: int) -> None:
        if img.reference is not None:
            errors, float_prediction = img.reference
        else:
            errors, float_prediction = reference_errors(self.net, self.float_weights, img.pixels,
                                                        layer_values)
        rec = ImageRecord(index=img.index, label=img.label, prediction=int(np.argmax(counts_sum)),
                          layer_error=errors, float_prediction=float_prediction,
                          latency_cycles=end - start + 1)
        self.records.append(rec)
        if self.trace is not None:
            self.trace.counts_sum.append(counts_sum)
        if self.progress is not None:
            self.progress(rec)

    def result(self, env: CycleEnvironment, mode: str, n_images: int) -> RunResult:
        layers = []
        for el in self.net.layers:
            clk = self.clocks[el.spec.name]
            start = clk.first or 0
            end = clk.last_produce + 1
            span = end - start - el.spec.depth_cycles
            layers.append(LayerTiming(el.spec.name, start, end, clk.busy, clk.stall,
                                      max(0, span - clk.busy - clk.stall)))
        return RunResult(design=self.net.spec.name, seed=self.net.spec.seed, mode=mode,
                         clock_mhz=self.net.spec.clock_mhz, images=n_images,
                         cycles=max(self.end_cycle, int(env.now)), ledger=self.ledger,
                         layers=layers, spans=self.spans, accuracy=self.records,
                         probes=list(self.probe_traces.values()),
                         simpy_events=env.events_scheduled)


def reference_errors(net: Network, float_weights, pixels: np.ndarray,
                     layer_values: list[np.ndarray]) -> tuple[dict[str, float], int]:
    """Mean |SC - float| per layer and the float reference's prediction for one image."""
    ref = float_forward(net.spec, float_weights, pixels)
    errors = {el.spec.name: float(np.mean(np.abs(sc.ravel() - fl.ravel())))
              for el, sc, fl in zip(net.layers, layer_values, ref, strict=True)}
    return errors, int(np.argmax(ref[-1]))


_NO_VALUE = np.zeros(0)


def decode_layer(el: ElaboratedLayer, streams: np.ndarray | None, counts_sum: np.ndarray | None,
                 L: int) -> np.ndarray:
    """Bipolar value of a layer's output (last layer: the decoded inner-product sums)."""
    lay = el.spec
    if lay.activation == "none":
        scale = lay.mux_phases if lay.shared_fc else 1
        S = lay.steps(L)
        return scale * (2.0 * counts_sum - lay.counter_inputs * S) / S
    return K.decode_bipolar(streams, L)


# ---------------------------------------------------------------------- fast engine
def _fast_layer(env, run: _Run, el: ElaboratedLayer, inbox: simpy.Store, outbox: simpy.Store):
    L = run.net.spec.stream_length
    clk = run.clocks[el.spec.name]
    depth = el.spec.depth_cycles
    first_layer = el is run.net.layers[0]
    i = run.net.layers.index(el)
    last_layer = i == len(run.net.layers) - 1
    while True:
        item = yield inbox.get()
        if item is None:
            outbox.put(None)
            return
        k, img, streams, p_in, values, start = item
        gate = None
        if k > 0 and not last_layer:  # backpressure: the next layer must be done with k-1
            yield run.release_event(env, i + 1, k - 1)
            gate = run.released[i + 1][k - 1] + 1
        probes = [p for p in run.probes if p.layer == el.spec.name] if k < run.probe_images else []
        if isinstance(streams, _Slot):  # bits computed by a worker process (--jobs)
            streams = streams.result()
            img.reference = streams.reference
        if isinstance(streams, _ImageBits):
            out = streams.layers[len(values)]
        else:
            out = compute_layer(el.spec, streams, el.weights, L, el.pool_first,
                                keep_counts=bool(probes), image=img.index)
            flips = flip_outputs(el.spec, out, L, run.net.spec.seed, img.index)
        steps = el.store.image_steps()
        interval, s, stall, total_steps = _step_timing(run, el, steps)
        # bit t is consumed at consume[t] = max(consume[t-1] + interval[t], p_all[t]), i.e.
        # s[t] + max over u <= t of max(p_all[u] - s[u], c_prev), with s = cumsum(interval)
        if el.spec.passes > 1 and not probes and len(s) == el.spec.passes * L:
            # multi-pass layer: later passes read the buffered input, p_all = p_in repeated;
            # s rises by >= 1 per bit, so over the passes before the last one the maximum of
            # p_all - s is reached in the first pass; only the last pass is formed bit by bit
            head = len(s) - L
            c_head = max(clk.c_prev, int((p_in - s[:L]).max()))
            p_last = p_in.copy()
            if gate is not None:  # the first emitted bit waits for the next layer's buffer
                p_last[0] = max(int(p_last[0]), gate)
            s_last = s[head:]
            consume_last = s_last + np.maximum.accumulate(np.maximum(p_last - s_last, c_head))
            consume = None
            first_consume = int(s[0]) + max(clk.c_prev, int(p_in[0]) - int(s[0]))
        else:
            p_all = np.tile(p_in, el.spec.passes)  # later passes read the buffered input
            if gate is not None:  # the first emitted bit waits for the next layer's buffer
                e = len(p_all) - L
                p_all[e] = max(int(p_all[e]), gate)
            consume = s + np.maximum.accumulate(np.maximum(p_all - s, clk.c_prev))
            consume_last = consume[len(consume) - L:]
            first_consume = int(consume[0])
        n_consume = len(s)
        last_consume = clk.c_prev = int(consume_last[-1])
        run.release(env, i, k, last_consume)
        produce = consume_last + depth  # bits of the last pass leave the layer
        if first_layer:
            start = first_consume
            run.record_input(k, last_consume)
        if produce[0] > env.now:
            yield env.timeout(int(produce[0]) - env.now)
        if isinstance(out, _LayerValue):
            flips = out.flips
            values = [*values, out.value]
            nxt = streams if el.spec.activation != "none" else out.counts_sum
        else:
            values = [*values, decode_layer(el, out.streams, out.counts_sum, L)]
            nxt = out.counts_sum if el.spec.activation == "none" else out.streams
        if run.trace is not None:
            run.trace.layer_bits.setdefault(el.spec.name, []).append(out.streams)
            run.trace.produce.setdefault(el.spec.name, []).append(produce)
        outbox.put((k, img, nxt, produce, values, start))
        if produce[-1] > env.now:
            yield env.timeout(int(produce[-1]) - env.now)
        for p in probes:
            run.sample_probe(p, el, out, steps, consume, produce)
        acts = el.hw.image_actions(n_consume, total_steps)
        if el.faults is not None:
            acts["weight_mem"]["misalign"] = int(el.faults(img.index)[0].per_step.sum())
        if el.weights.read_error > 0:
            acts["weight_mem"]["read_error"] = (out.read_errors if isinstance(out, _LayerValue)
                                                else el.weights.read_errors(img.index))
        if el.spec.output_flip > 0:
            acts["btanh"]["flip"] = flips
        run.record_layer_image(el, k, acts, first_consume, last_consume, n_consume, produce,
                               stall)


def _step_timing(run: _Run, el: ElaboratedLayer,
                 steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(cycles between bit deliveries, their running sum, stall cycles, shift steps) of one
    image's weight accesses. The store hands out one array per head state (``image_steps``
    caches them), so the timing derived from it is cached by that array's identity."""
    hit = run.step_timing.get(el.spec.name)
    if hit is None or hit[0] is not steps:
        interval = el.store.interval_of(steps)
        hit = (steps, interval, np.cumsum(interval), int((interval - 1).sum()), int(steps.sum()))
        run.step_timing[el.spec.name] = hit
    return hit[1], hit[2], hit[3], hit[4]


def _source(env, run: _Run, images: Iterable[Image], outbox: simpy.Store, pool=None,
            window: int = 4, n_images: int = 0, batch: int = 1, workers: int = 1):
    """Feed the images in order; with a worker pool, their bits are computed ahead in tasks of
    ``batch`` images (one process-pool round trip costs ~0.5 ms of this process's CPU, which
    the workers would otherwise lose), single images for the first ones (the pipeline starts
    as soon as one image is done) and the last ones (the workers finish together)."""
    spec = run.net.spec
    L = spec.stream_length
    pending: deque = deque()
    it = iter(enumerate(images))

    def submit() -> bool:
        nxt = next(it, None)
        if nxt is None:
            return False
        k, img = nxt
        if pool is not None and not (run.probes and k < run.probe_images):  # probed: here
            items = [(k, img)]
            if k >= 2 * workers and n_images - k > 2 * batch * workers:
                while len(items) < batch:
                    more = next(it, None)
                    if more is None:
                        break
                    items.append(more)
            fut = pool.submit(_worker_images, [i.pixels for _, i in items],
                              [i.index for _, i in items])
            pending.extend((kk, ii, _Slot(fut, j)) for j, (kk, ii) in enumerate(items))
        else:
            pending.append((k, img, input_streams(img.pixels.reshape(spec.input_shape),
                                                  spec.input_rng, L, spec.comparator)))
        return True

    while len(pending) < window and submit():
        pass
    while pending:
        k, img, streams = pending.popleft()
        if len(pending) < window:
            submit()
        yield outbox.put((k, img, streams, np.zeros(L, dtype=np.int64), [], 0))
    yield outbox.put(None)


# ------------------------------------------------------------- image-parallel datapath
@dataclass
class _LayerValue:
    """A worker's result for one layer: the decoded output (and the last layer's counts)."""

    value: np.ndarray
    counts_sum: np.ndarray | None
    streams: np.ndarray | None = None
    read_errors: int = 0  # inverted weight-bit reads (MRAM read errors) of this image
    flips: int = 0  # output stream bits inverted on the way to the next layer


@dataclass
class _ImageBits:
    layers: list[_LayerValue]
    reference: tuple[dict[str, float], int] | None = None


_BATCH = 4  # images per worker task (see _source)
_WORKER_NET: Network | None = None
_WORKER_FLOAT = None  # float weights for the reference forward pass in the workers


@dataclass
class _Slot:
    """Image j of a worker task's batch: ``result()`` waits for the task."""

    future: Future
    j: int

    def result(self) -> _ImageBits:
        return self.future.result()[self.j]


def _worker_images(pixels: list[np.ndarray], indices: list[int]) -> list[_ImageBits]:
    """A batch of images through the whole datapath (one process-pool task)."""
    return [_worker_image(p, i) for p, i in zip(pixels, indices, strict=True)]


def _worker_image(pixels: np.ndarray, index: int) -> _ImageBits:
    """The whole datapath of one image (runs in a forked worker holding the network)."""
    net = _WORKER_NET
    assert net is not None
    spec = net.spec
    L = spec.stream_length
    x = input_streams(pixels.reshape(spec.input_shape), spec.input_rng, L, spec.comparator)
    out, values = [], []
    for el in net.layers:
        o = compute_layer(el.spec, x, el.weights, L, el.pool_first, image=index)
        flips = flip_outputs(el.spec, o, L, spec.seed, index)
        values.append(decode_layer(el, o.streams, o.counts_sum, L))
        out.append(_LayerValue(_NO_VALUE, o.counts_sum, read_errors=el.weights.read_errors(index),
                               flips=flips))
        x = o.streams
    ref = reference_errors(net, _WORKER_FLOAT, pixels, values)
    return _ImageBits(out, ref)


def _sink(env, run: _Run, inbox: simpy.Store):
    while True:
        item = yield inbox.get()
        if item is None:
            return
        k, img, counts_sum, produce, values, start = item
        run.finish_image(img, k, values, counts_sum, start, int(produce[-1]))


def simulate(net: Network, images: Iterable[Image], n_images: int, float_weights,
             mode: str = "fast", keep_trace: bool = False,
             progress: Callable[[ImageRecord], None] | None = None,
             probes: list[Probe] | None = None,
             probe_images: int = 1, jobs: int = 1) -> tuple[RunResult, SimTrace | None]:
    """Simulate ``n_images`` images through the network; returns the result (and trace).

    Probes are sampled by the fast engine (the per-cycle engine ignores them).  With
    ``jobs > 1`` (fast mode) worker processes compute the images' bits in parallel while this
    process keeps the SimPy timing, the ledger and the image order, so every result is
    identical to a single-process run.
    """
    global _WORKER_NET, _WORKER_FLOAT
    env = CycleEnvironment()
    run = _Run(net, float_weights, keep_trace, progress, probes, probe_images)
    pool = None
    local = probe_images if probes else 0  # probed images are computed here, keeping counts
    jobs = max(1, min(jobs, n_images - local)) if mode == "fast" and not keep_trace else 1
    if jobs > 1:
        _WORKER_NET = net  # inherited by the forked workers, copy-on-write
        _WORKER_FLOAT = float_weights
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
    if mode == "fast":
        stores = [simpy.Store(env, capacity=1) for _ in range(len(net.layers) + 1)]
        batch = _BATCH if jobs > 1 else 1
        env.process(_source(env, run, images, stores[0], pool, window=2 * jobs * batch + 1,
                            n_images=n_images, batch=batch, workers=jobs))
        for i, el in enumerate(net.layers):
            env.process(_fast_layer(env, run, el, stores[i], stores[i + 1]))
        env.process(_sink(env, run, stores[-1]))
    elif mode == "per-cycle":
        _PerCycleEngine(env, run, list(_take(images, n_images)))
    else:
        raise ValueError(f"mode(={mode!r}) must be 'fast' or 'per-cycle'")
    completed = False
    try:
        # one BLAS thread: the float reference's small products lose more to thread
        # hand-offs than they gain, and images already run in parallel processes
        with threadpool_limits(limits=1):
            env.run()
        completed = True
    finally:
        if pool is not None:  # a finished run joins its idle workers; an interrupted one not
            pool.shutdown(wait=completed, cancel_futures=not completed)
            _WORKER_NET = _WORKER_FLOAT = None
    result = run.result(env, mode, n_images)
    result.metadata["jobs"] = jobs
    return result, run.trace


def _take(it: Iterable[Image], n: int) -> Iterator[Image]:
    for i, x in enumerate(it):
        if i >= n:
            return
        yield x


# ----------------------------------------------------------------- per-cycle engine
class _PerCycleEngine:
    """Every layer steps once per cycle; one bit per cycle per layer at most."""

    def __init__(self, env: CycleEnvironment, run: _Run, images: list[Image]) -> None:
        self.env, self.run, self.images = env, run, images
        net = run.net
        L = net.spec.stream_length
        self.L = L
        self.inputs = []
        for img in images:
            s = input_streams(img.pixels.reshape(net.spec.input_shape), net.spec.input_rng, L,
                              net.spec.comparator)
            self.inputs.append(K.unpack_bits(s.reshape(-1, s.shape[-1]), L))
        n = len(net.layers)
        # bits[l][k]: (units, L) uint8 output bits of layer l for image k; times likewise
        self.bits: list[dict[int, np.ndarray]] = [{} for _ in range(n)]
        self.times: list[dict[int, np.ndarray]] = [{} for _ in range(n)]
        self.acc: dict[int, np.ndarray] = {}
        self.start: dict[int, int] = {}
        self.done = [0] * n
        for i, el in enumerate(net.layers):
            env.process(self._layer(i, el))

    def _available(self, i: int, k: int, t: int) -> np.ndarray | None:
        if i == 0:
            return self.inputs[k]
        times = self.times[i - 1].get(k)
        if times is None or times[t] < 0 or times[t] > self.env.now:
            return None
        return self.bits[i - 1][k]

    def _layer(self, i: int, el: ElaboratedLayer):
        env, run, L = self.env, self.run, self.L
        n_layers = len(run.net.layers)
        clk = run.clocks[el.spec.name]
        depth = el.spec.depth_cycles
        pcl = PerCycleLayer(el.spec, el.weights, L, el.pool_first)
        units = el.spec.out_count
        for k, img in enumerate(self.images):
            pcl.reset(img.index)
            out = np.zeros((units, L), dtype=np.uint8)
            times = np.full(L, -1, dtype=np.int64)
            self.bits[i][k], self.times[i][k] = out, times
            S = el.spec.steps(L)
            emit = S - L  # multi-pass shared FC: only the last pass leaves the layer
            consume = np.zeros(S, dtype=np.int64)
            acts: dict[str, dict[str, int]] = {}
            stall = 0
            held = k > 0 and i < n_layers - 1  # backpressure on the first emitted bit
            read_errors = None  # inverted weight reads per cycle (MRAM read errors)
            flipped = None  # output bits inverted on the way to the next layer
            if el.spec.output_flip > 0:
                flipped = K.unpack_bits(output_flip_mask(el.spec, L, run.net.spec.seed,
                                                         img.index), L)
            if el.weights.read_error > 0:
                mask = el.weights.read_error_mask(img.index)
                read_errors = K.unpack_bits(mask.reshape(-1, mask.shape[-1]), L).sum(axis=0)
            for s in range(S):
                t = s % L
                steps = el.store.step_access(s)
                interval = int(el.store.interval_of(np.array([steps]), s)[0])
                earliest = clk.c_prev + interval
                if held and s == emit:  # the next layer must be done with image k-1
                    while (k - 1) not in run.released[i + 1]:
                        yield env.timeout(1)
                    earliest = max(earliest, run.released[i + 1][k - 1] + 1)
                while True:
                    src = self._available(i, k, t)
                    if src is not None and env.now >= earliest:
                        break
                    yield env.timeout(1)
                c = int(env.now)
                clk.c_prev = c
                consume[s] = c
                if s == S - 1:
                    run.release(env, i, k, c)
                stall += interval - 1
                bits = pcl.step(s, src[:, t])
                if s >= emit:
                    out[:, t] = bits if flipped is None else bits ^ flipped[:, t]
                    times[t] = c + depth
                for block, counts in el.hw.cycle_actions(steps, s).items():
                    d = acts.setdefault(block, {})
                    for a, n in counts.items():
                        d[a] = d.get(a, 0) + n
                if el.faults is not None:  # fault events of this access, from the same table
                    n_f = int(el.faults(img.index)[0].per_step[s])
                    if n_f:
                        d = acts["weight_mem"]
                        d["misalign"] = d.get("misalign", 0) + n_f
                if read_errors is not None and read_errors[t]:
                    d = acts["weight_mem"]
                    d["read_error"] = d.get("read_error", 0) + int(read_errors[t])
                if flipped is not None and s >= emit:
                    d = acts["btanh"]
                    d["flip"] = d.get("flip", 0) + int(flipped[:, t].sum())
            if i == 0:
                self.start[k] = int(consume[0])
                run.record_input(k, int(consume[-1]))
            run.record_layer_image(el, k, acts, int(consume[0]), int(consume[-1]), len(consume),
                                   times, stall)
            packed = K.pack_bits(out)
            if el.spec.kind == "conv":
                packed = packed.reshape(el.spec.filters, el.spec.out_size, el.spec.out_size, -1)
            if run.trace is not None:
                run.trace.layer_bits.setdefault(el.spec.name, []).append(
                    packed if el.spec.activation == "btanh" else
                    np.zeros((units, (L + 63) // 64), np.uint64))
                run.trace.produce.setdefault(el.spec.name, []).append(times)
            if el.spec.activation == "none":
                self.acc[k] = pcl.acc.copy()
            self.done[i] = k + 1
            if i == len(run.net.layers) - 1:
                values = []
                for j, elj in enumerate(run.net.layers):
                    if elj.spec.activation == "none":
                        values.append(decode_layer(elj, None, self.acc[k], L))
                    else:
                        values.append(K.decode_bipolar(K.pack_bits(self.bits[j][k]), L))
                run.finish_image(img, k, values, self.acc[k], self.start[k], int(times[-1]))
