"""The per-cycle reference engine: every layer steps once per cycle, one step per cycle at most.

Each layer is a SimPy process that, for every datapath step of an image, asks its fabric's
per-cycle model how long the memory side needs (``access``), waits cycle by cycle until the
input token the step needs has been produced and that interval has passed, then computes the
step (``step``) and records its actions.  It uses no packed kernel and solves no recurrence:
it is the oracle the fast engine is held to (same cycles, same action counts, same bits).
It knows a network only through the fabric interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archsim.engine.env import CycleEnvironment
from archsim.engine.fabric import LayerModel

if TYPE_CHECKING:
    from archsim.simulator import Image, _Run


class PerCycleEngine:
    """Builds one SimPy process per layer of ``run.net`` over ``images``."""

    def __init__(self, env: CycleEnvironment, run: _Run, images: list[Image]) -> None:
        self.env, self.run, self.images = env, run, images
        net = run.net
        self.inputs = [net.input_token_array(img.pixels) for img in images]
        n = len(net.layers)
        # tokens[l][k]: output tokens of layer l for image k; times[l][k]: their cycles
        self.tokens: list[dict[int, list[np.ndarray]]] = [{} for _ in range(n)]
        self.times: list[dict[int, np.ndarray]] = [{} for _ in range(n)]
        self.values: dict[int, list[np.ndarray]] = {}
        self.start: dict[int, int] = {}
        for i, lay in enumerate(net.layers):
            env.process(self._layer(i, lay))

    def _token(self, i: int, k: int, j: int) -> np.ndarray | None:
        """Input token j of layer i for image k, if it has been produced by now."""
        if i == 0:
            return self.inputs[k][j]
        times = self.times[i - 1].get(k)
        if times is None or times[j] < 0 or times[j] > self.env.now:
            return None
        return self.tokens[i - 1][k][j]

    def _layer(self, i: int, lay: LayerModel):
        env, run = self.env, self.run
        n_layers = len(run.net.layers)
        clk = run.clocks[lay.name]
        depth = lay.depth_cycles
        model = lay.percycle()
        for k, img in enumerate(self.images):
            model.reset(img.index)
            S, emit = model.steps, model.emit_from
            n_in = len(self.inputs[k]) if i == 0 else len(self.times[i - 1][k])
            out: list[np.ndarray] = []
            times = np.full(S - emit, -1, dtype=np.int64)
            self.tokens[i][k], self.times[i][k] = out, times
            consume = np.zeros(S, dtype=np.int64)
            acts: dict[str, dict[str, int]] = {}
            stall = 0
            held = k > 0 and i < n_layers - 1  # backpressure on the first emitted token
            for s in range(S):
                j = n_in - 1 if lay.waits_for == "image" else s % n_in
                interval, step_acts = model.access(s)
                earliest = clk.c_prev + interval
                if held and s == emit:  # the next layer must be done with image k-1
                    while (k - 1) not in run.released[i + 1]:
                        yield env.timeout(1)
                    earliest = max(earliest, run.released[i + 1][k - 1] + 1)
                while True:
                    token = self._token(i, k, j)
                    if token is not None and env.now >= earliest:
                        break
                    yield env.timeout(1)
                c = int(env.now)
                clk.c_prev = c
                consume[s] = c
                if s == S - 1:
                    run.release(env, i, k, c)
                stall += interval - 1
                emitted = model.step(s, token)
                if emitted is not None:
                    out.append(emitted)
                    times[s - emit] = c + depth
                for block, counts in step_acts.items():
                    d = acts.setdefault(block, {})
                    for a, n in counts.items():
                        d[a] = d.get(a, 0) + n
            if i == 0:
                self.start[k] = int(consume[0])
                run.record_input(k, int(consume[-1]))
            run.record_layer_image(lay, k, acts, int(consume[0]), int(consume[-1]), S, times,
                                   stall)
            result = model.finish(out)
            if run.trace is not None:
                run.trace.layer_bits.setdefault(lay.name, []).append(result.trace_bits)
                run.trace.produce.setdefault(lay.name, []).append(times)
            self.values.setdefault(k, []).append(result.value)
            if i == n_layers - 1:
                assert result.scores is not None
                run.finish_image(img, self.values.pop(k), result.scores, self.start[k],
                                 int(times[-1]))
