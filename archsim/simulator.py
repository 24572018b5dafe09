"""Run an elaborated network on images: the fast engine, and the bookkeeping both engines share.

Both engines are SimPy models in which every layer is a process, and both produce the same
bits, cycle counts and action counts (tests hold them to it; that agreement is what
"cycle-accurate" means in archsim).  They know a network only through the fabric interface
(:mod:`archsim.engine.fabric`): a layer's schedule, its compute, its action counts.

* **fast** (here): a layer process takes a whole image's input at once, computes its output
  with the fabric's packed kernels, solves the streaming recurrence

      consume(s) = max(ready(s), consume(s-1) + interval(s))
      produce(j) = consume(emit_from + j) + depth

  with NumPy, and yields to SimPy only at the first and last produced token of the image (a
  few events per layer per image).
* **per-cycle** (:mod:`archsim.engine.percycle`): every layer process advances one cycle at a
  time and computes each step with the fabric's per-cycle reference model.

``interval(s)`` is the layer's memory delivery interval of step s (DWM shifts that do not fit
in a cycle stall the layer); ``depth`` is the layer's pipeline depth.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np
import simpy
from threadpoolctl import threadpool_limits

from archsim.children import WorkerDied, die_with_parent, kill_all
from archsim.engine.env import CycleEnvironment
from archsim.engine.fabric import FabricNetwork, LayerModel, LayerOutput, Probe, Schedule
from archsim.engine.results import ImageRecord, LayerTiming, ProbeTrace, RunResult, Span


@dataclass
class Image:
    """One input image: pixels (C, H, W) uint8, its label (or None) and its data-set index."""

    index: int
    pixels: np.ndarray
    label: int | None = None
    # per-layer errors against the float reference and its prediction, when a worker
    # computed them
    reference: tuple[dict[str, float], int] | None = None


@dataclass
class SimTrace:
    """Bit- and cycle-level detail kept for verification (small runs only)."""

    # packed per image (None where the fabric keeps no trace bits)
    layer_bits: dict[str, list[np.ndarray | None]] = field(default_factory=dict)
    produce: dict[str, list[np.ndarray]] = field(default_factory=dict)  # cycle per token
    counts_sum: list[np.ndarray] = field(default_factory=list)  # class scores per image


@dataclass
class _LayerClock:
    """Streaming state of one layer across images."""

    c_prev: int
    first: int | None = None
    last_produce: int = 0
    busy: int = 0
    stall: int = 0
    backpressure: int = 0  # cycles a step waited for the next layer to release its buffer
    input_wait: int = 0  # cycles a step waited for its input token (after the layer started)
    lead: int = 0  # memory stall of the layer's first step, before its first consume


class _Run:
    """Shared bookkeeping of one simulation (ledger, spans, per-image records)."""

    def __init__(self, net: FabricNetwork, keep_trace: bool,
                 progress: Callable[[ImageRecord], None] | None,
                 probes: list[Probe] | None = None, probe_images: int = 1) -> None:
        self.net = net
        self.probes = probes or []
        self.probe_images = probe_images
        self.probe_traces: dict[str, ProbeTrace] = {}
        self.ledger = net.new_ledger()
        self.spans: list[Span] = []
        self.records: list[ImageRecord] = []
        self.trace = SimTrace() if keep_trace else None
        self.progress = progress
        loads = net.load_cycles()
        self.clocks = {lay.name: _LayerClock(c_prev=loads[lay.name] - 1) for lay in net.layers}
        # inter-layer buffer of one image: layer i may start image k+1 only after layer i+1
        # has consumed the last step of image k (cycle released[i+1][k])
        self.released: list[dict[int, int]] = [{} for _ in net.layers]
        self.release_events: list[dict[int, simpy.Event]] = [{} for _ in net.layers]
        self.end_cycle = 0
        self._offsets: dict[str, list[tuple[str, int]]] = {}
        for lay in net.layers:
            for block, acts in lay.load_actions().items():
                for action, n in acts.items():
                    self.ledger.record(lay.blocks[block], action, n, max(0, loads[lay.name]),
                                       image=-1)

    def release_event(self, env, i: int, k: int) -> simpy.Event:
        """Triggered when layer i has consumed the last step of image k."""
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

    def record_layer_image(self, lay: LayerModel, k: int, acts: dict[str, dict[str, int]],
                           first_consume: int, last_consume: int, n_consume: int,
                           produce: np.ndarray, stall: int, backpressure: int = 0,
                           input_wait: int = 0) -> None:
        """Ledger, clock and spans of one layer's image: its steps consumed from cycle
        ``first_consume`` to ``last_consume`` (``n_consume`` steps), output tokens at
        ``produce``; ``stall``, ``backpressure`` and ``input_wait`` the cycles its steps lost
        to the memory, to the next layer's full buffer and to their input tokens."""
        name = lay.name
        clk = self.clocks[name]
        end = int(produce[-1])
        for block, counts in acts.items():
            for action, n in counts.items():
                self.ledger.record(lay.blocks[block], action, n, end, image=k)
        if clk.first is None:
            clk.first = int(first_consume)
        clk.last_produce = end
        clk.busy += n_consume
        clk.stall += stall
        clk.backpressure += backpressure
        clk.input_wait += input_wait
        first, last = int(first_consume), int(last_consume)
        self.spans.append(Span(name, "datapath", first, last + 1, k, "consume"))
        self.spans.append(Span(name, "output", int(produce[0]), end + 1, k, "produce"))
        # every block of the pipeline: the memory delivers while the front consumes, stage i
        # holds the image's steps from the first consume + its offset to the last + offset
        for block, offset in self._block_offsets(lay):
            self.spans.append(Span(name, block, first + offset, last + offset + 1, k, "busy"))
        self.end_cycle = max(self.end_cycle, end + 1)

    def _block_offsets(self, lay: LayerModel) -> list[tuple[str, int]]:
        hit = self._offsets.get(lay.name)
        if hit is None:
            hit, off = [(lay.memory_block, 0)], 0
            for st in lay.stages():
                hit.append((st.block, off))
                off += st.latency_cycles
            self._offsets[lay.name] = hit
        return hit

    def sample_probe(self, p: Probe, lay: LayerModel, out: LayerOutput, sched: Schedule,
                     consume: np.ndarray | None, produce: np.ndarray) -> None:
        self.add_probe_samples(p, lay, *lay.sample_probe(p, out, sched, consume, produce))

    def add_probe_samples(self, p: Probe, lay: LayerModel, cycles: np.ndarray,
                          values: np.ndarray) -> None:
        tr = self.probe_traces.setdefault(p.name, ProbeTrace(p.name, lay.probe_width(p)))
        for c, v in zip(cycles.tolist(), values.tolist(), strict=True):
            tr.change(c, v)

    def record_input(self, k: int, cycle: int) -> None:
        for name, acts in self.net.input_actions().items():
            for action, n in acts.items():
                self.ledger.record(self.net.input_blocks[name], action, n, cycle, image=k)

    def finish_image(self, img: Image, values: list[np.ndarray], scores: np.ndarray,
                     start: int, end: int) -> None:
        if img.reference is not None:
            errors, float_prediction = img.reference
        else:
            errors, float_prediction = self.net.reference(img.pixels, values)
        rec = ImageRecord(index=img.index, label=img.label, prediction=int(np.argmax(scores)),
                          layer_error=errors, float_prediction=float_prediction,
                          latency_cycles=end - start + 1, start_cycle=start, end_cycle=end)
        self.records.append(rec)
        if self.trace is not None:
            self.trace.counts_sum.append(scores)
        if self.progress is not None:
            self.progress(rec)

    def result(self, env: CycleEnvironment, mode: str, n_images: int) -> RunResult:
        layers = []
        for lay in self.net.layers:
            clk = self.clocks[lay.name]
            start = clk.first or 0
            end = clk.last_produce + 1
            span = end - start - lay.depth_cycles
            layers.append(LayerTiming(lay.name, start, end, clk.busy, clk.stall,
                                      max(0, span - clk.busy - clk.stall),
                                      backpressure_cycles=clk.backpressure,
                                      input_wait_cycles=clk.input_wait,
                                      depth_cycles=lay.depth_cycles, lead_cycles=clk.lead))
        net = self.net
        return RunResult(design=net.name, seed=net.seed, mode=mode, clock_mhz=net.clock_mhz,
                         images=n_images, cycles=max(self.end_cycle, int(env.now)),
                         ledger=self.ledger, layers=layers, spans=self.spans,
                         accuracy=self.records, probes=list(self.probe_traces.values()),
                         simpy_events=env.events_scheduled)


# ---------------------------------------------------------------------- fast engine
def _fast_layer(env, run: _Run, i: int, lay: LayerModel, inbox: simpy.Store,
                outbox: simpy.Store):
    clk = run.clocks[lay.name]
    depth = lay.depth_cycles
    last_layer = i == len(run.net.layers) - 1
    while True:
        item = yield inbox.get()
        if item is None:
            outbox.put(None)
            return
        k, img, data, p_in, values, start = item
        gate = None
        if k > 0 and not last_layer:  # backpressure: the next layer must be done with k-1
            yield run.release_event(env, i + 1, k - 1)
            gate = run.released[i + 1][k - 1] + 1
        probes = [p for p in run.probes if p.layer == lay.name] if k < run.probe_images else []
        if isinstance(data, _Slot):  # computed by a worker process (--jobs)
            data = data.result()
            img.reference = data.reference
        if isinstance(data, _ImageBits):
            out = data.layers[len(values)]
            nxt = data
        else:
            out = lay.compute(data, img.index, detail=bool(probes))
            nxt = out.data
        sched = lay.schedule()
        s, E = sched.cum_interval, sched.emit_from
        c_before = clk.c_prev
        # step s is consumed at consume[s] = max(consume[s-1] + interval[s], ready[s]), i.e.
        # s_cum[s] + max over u <= s of max(ready[u] - s_cum[u], c_prev)
        if lay.waits_for == "image":
            ready = np.full(sched.steps, int(p_in[-1]), dtype=np.int64)
        elif sched.passes > 1 and not probes and len(s) == sched.passes * len(p_in):
            # multi-pass layer: later passes read the buffered input, ready = p_in repeated;
            # s rises by >= 1 per step, so over the passes before the last one the maximum of
            # ready - s is reached in the first pass; only the last pass is formed step by step
            T = len(p_in)
            c_head = max(clk.c_prev, int((p_in - s[:T]).max()))
            p_last = p_in.copy()
            if gate is not None:  # the first emitted token waits for the next layer's buffer
                p_last[0] = max(int(p_last[0]), gate)
            s_last = s[len(s) - T:]
            consume_last = s_last + np.maximum.accumulate(np.maximum(p_last - s_last, c_head))
            consume = None
            first_consume = int(s[0]) + max(clk.c_prev, int(p_in[0]) - int(s[0]))
            ready = None
            delivered = int(s[E]) + c_head  # step E's data is there (the last pass's first)
        else:
            ready = np.tile(p_in, sched.passes)  # later passes read the buffered input
        if ready is not None:
            if gate is not None:  # the first emitted token waits for the next layer's buffer
                ready[E] = max(int(ready[E]), gate)
            consume = s + np.maximum.accumulate(np.maximum(ready - s, clk.c_prev))
            consume_last = consume[E:]
            first_consume = int(consume[0])
            delivered = (int(consume[E - 1]) + int(s[E] - s[E - 1]) if E > 0
                         else c_before + int(s[0]))
        last_consume = clk.c_prev = int(consume_last[-1])
        # the cycles the steps waited beyond their memory's delivery: at the step that emits
        # the first token, for the next layer's buffer first (backpressure), then for input
        backpressure = max(0, gate - delivered) if gate is not None else 0
        waited = last_consume - c_before - int(s[-1])
        if clk.first is None:  # the layer's first step waited before the layer started
            waited -= first_consume - c_before - int(s[0])
            clk.lead = int(s[0]) - 1
        run.release(env, i, k, last_consume)
        produce = consume_last + depth  # the emitted steps' tokens leave the layer
        if i == 0:
            start = first_consume
            run.record_input(k, last_consume)
        if produce[0] > env.now:
            yield env.timeout(int(produce[0]) - env.now)
        # a worker's image carries its float reference already, not the layers' values
        assert out.value is not None or img.reference is not None, \
            f"{lay.name}: a layer's output has a value"
        values = [*values, out.value]
        if run.trace is not None:
            run.trace.layer_bits.setdefault(lay.name, []).append(out.trace_bits)
            run.trace.produce.setdefault(lay.name, []).append(produce)
        outbox.put((k, img, out.scores if last_layer else nxt, produce, values, start))
        if produce[-1] > env.now:
            yield env.timeout(int(produce[-1]) - env.now)
        for p in probes:
            run.sample_probe(p, lay, out, sched, consume, produce)
        run.record_layer_image(lay, k, lay.image_actions(sched, out), first_consume,
                               last_consume, sched.steps, produce, sched.stall_cycles,
                               backpressure, waited - backpressure)


def _source(env, run: _Run, images: Iterable[Image], outbox: simpy.Store, pool=None,
            window: int = 4, n_images: int = 0, batch: int = 1, workers: int = 1):
    """Feed the images in order; with a worker pool, their bits are computed ahead in tasks of
    ``batch`` images (one process-pool round trip costs ~0.5 ms of this process's CPU, which
    the workers would otherwise lose), single images for the first ones (the pipeline starts
    as soon as one image is done) and the last ones (the workers finish together)."""
    net = run.net
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
            pending.append((k, img, net.encode(img.pixels)))
        return True

    while len(pending) < window and submit():
        pass
    ready = np.zeros(net.input_tokens, dtype=np.int64)  # input available at the image's start
    while pending:
        k, img, data = pending.popleft()
        if len(pending) < window:
            submit()
        yield outbox.put((k, img, data, ready, [], 0))
    yield outbox.put(None)


# ------------------------------------------------------------- image-parallel datapath
@dataclass
class _ImageBits:
    """A worker's result for one image: each layer's output summary and the reference."""

    layers: list[LayerOutput]
    reference: tuple[dict[str, float], int] | None = None


_BATCH = 4  # images per worker task (see _source)
_WORKER_NET: FabricNetwork | None = None


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
    x = net.encode(pixels)
    out, values = [], []
    for lay in net.layers:
        o = lay.compute(x, index)
        assert o.value is not None, f"{lay.name}: a layer's output has a value"
        values.append(o.value)
        out.append(o.summary())
        x = o.data
    return _ImageBits(out, net.reference(pixels, values))


def _sink(env, run: _Run, inbox: simpy.Store):
    while True:
        item = yield inbox.get()
        if item is None:
            return
        k, img, scores, produce, values, start = item
        run.finish_image(img, values, scores, start, int(produce[-1]))


def simulate(net: FabricNetwork, images: Iterable[Image], n_images: int,
             mode: str = "fast", keep_trace: bool = False,
             progress: Callable[[ImageRecord], None] | None = None,
             probes: list[Probe] | None = None,
             probe_images: int = 1, jobs: int = 1) -> tuple[RunResult, SimTrace | None]:
    """Simulate ``n_images`` images through the network; returns the result (and trace).

    Probes are sampled by both engines (the per-cycle engine reads them from its blocks).  With
    ``jobs > 1`` (fast mode) worker processes compute the images' bits in parallel while this
    process keeps the SimPy timing, the ledger and the image order, so every result is
    identical to a single-process run.
    """
    from archsim.engine.percycle import PerCycleEngine

    global _WORKER_NET
    env = CycleEnvironment()
    run = _Run(net, keep_trace, progress, probes, probe_images)
    pool = None
    local = probe_images if probes else 0  # probed images are computed here, keeping detail
    jobs = max(1, min(jobs, n_images - local)) if mode == "fast" and not keep_trace else 1
    if jobs > 1:
        _WORKER_NET = net  # inherited by the forked workers, copy-on-write
        # workers die with this process (parent-death signal + watchdog) and ignore Ctrl-C,
        # which this process handles by cancelling the queued images and killing them
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                   initializer=die_with_parent, initargs=(os.getpid(),))
    if mode == "fast":
        stores = [simpy.Store(env, capacity=1) for _ in range(len(net.layers) + 1)]
        batch = _BATCH if jobs > 1 else 1
        env.process(_source(env, run, images, stores[0], pool, window=2 * jobs * batch + 1,
                            n_images=n_images, batch=batch, workers=jobs))
        for i, lay in enumerate(net.layers):
            env.process(_fast_layer(env, run, i, lay, stores[i], stores[i + 1]))
        env.process(_sink(env, run, stores[-1]))
    elif mode == "per-cycle":
        PerCycleEngine(env, run, list(_take(images, n_images)))
    else:
        raise ValueError(f"mode(={mode!r}) must be 'fast' or 'per-cycle'")
    completed = False
    try:
        # one BLAS thread: the float reference's small products lose more to thread
        # hand-offs than they gain, and images already run in parallel processes
        with threadpool_limits(limits=1):
            env.run()
        completed = True
    except BrokenProcessPool:
        raise WorkerDied(f"a worker process of --jobs {jobs} died before returning its images "
                         "(killed, or out of memory)") from None
    finally:
        if pool is not None:  # a finished run joins its idle workers; an interrupted one
            workers = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=completed, cancel_futures=not completed)
            if not completed:  # cancels the queued images and stops the running ones
                kill_all(workers)
            _WORKER_NET = None
    result = run.result(env, mode, n_images)
    result.metadata["jobs"] = jobs
    return result, run.trace


def _take(it: Iterable[Image], n: int) -> Iterator[Image]:
    for i, x in enumerate(it):
        if i >= n:
            return
        yield x
