"""Derived timing and accuracy metrics of a run (defined in docs/metrics.md).

A pipelined accelerator has two different "times per image", and this module keeps them apart:

* **per-image latency**: the cycles from the first input bit of an image consumed by the first
  layer to the last output bit of that image produced by the last layer (inclusive), image by
  image (``accuracy.csv``'s ``latency_cycles``); min, mean and max over the run;
* **throughput interval**: the mean cycles between two finished images, measured from the
  first finished image to the last; ``fill`` is then the cycles before the steady state, so
  that ``cycles = fill + images x interval``; throughput = clock / interval (images per s).

The **bottleneck** layer is the one that is occupied longest per image by its own work (busy
+ memory stall): in a pipeline of one-image buffers it sets the interval; the layers before it
wait for it (backpressure), those after it wait for its output (input wait).

Accuracy comes with a 95 % Wilson score interval (Wilson, "Probable inference, the law of
succession, and statistical inference", J. Am. Stat. Assoc., 1927), which stays inside [0, 1]
and is honest for small runs and accuracies near 100 %, where the normal approximation is not.

Everything here reads the result objects only (layer timings, image records), so every fabric
gets the same metrics.
"""

from __future__ import annotations

import math
from typing import Any

from archsim.engine.results import LayerTiming, RunResult

__all__ = ["Z95", "bottleneck", "image_latency", "throughput", "timing_metrics",
           "wilson_interval"]

Z95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``correct / n`` (None when ``n == 0``)."""
    if n <= 0:
        return None
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def image_latency(result: RunResult) -> dict[str, float | int | None]:
    """Min, mean and max per-image latency in cycles (None without recorded images)."""
    lat = [r.latency_cycles for r in result.accuracy]
    if not lat:
        return {"min": None, "mean": None, "max": None}
    return {"min": min(lat), "mean": sum(lat) / len(lat), "max": max(lat)}


def throughput(result: RunResult) -> dict[str, float | None]:
    """Throughput interval (cycles), fill (cycles) and images per second at the clock.

    Needs two finished images; with one the interval is not defined (None)."""
    ends = sorted(r.end_cycle for r in result.accuracy)
    if len(ends) < 2:
        return {"interval_cycles": None, "fill_cycles": None, "images_per_s": None}
    interval = (ends[-1] - ends[0]) / (len(ends) - 1)
    fill = ends[0] + 1 - interval  # the first image finishes at cycle ends[0] (inclusive)
    per_s = result.clock_mhz * 1e6 / interval if interval > 0 else None
    return {"interval_cycles": interval, "fill_cycles": fill, "images_per_s": per_s}


def bottleneck(layers: list[LayerTiming]) -> LayerTiming | None:
    """The layer with the most busy + stall cycles (its own work), None without timings."""
    if not layers:
        return None
    return max(layers, key=lambda t: (t.busy_cycles + t.stall_cycles, -layers.index(t)))


def timing_metrics(result: RunResult) -> dict[str, Any]:
    """The summary keys of this module (flat, so a sweep's results table gets each one)."""
    lat = image_latency(result)
    thr = throughput(result)
    ns = result.cycle_ns
    neck = bottleneck(result.layers)
    labelled = [r for r in result.accuracy if r.label is not None]
    ci = wilson_interval(sum(bool(r.correct) for r in labelled), len(labelled))

    def scaled(v: float | int | None) -> float | None:
        return None if v is None else v * ns

    out: dict[str, Any] = {
        "image_latency_min_cycles": lat["min"],
        "image_latency_mean_cycles": lat["mean"],
        "image_latency_max_cycles": lat["max"],
        "image_latency_min_ns": scaled(lat["min"]),
        "image_latency_mean_ns": scaled(lat["mean"]),
        "image_latency_max_ns": scaled(lat["max"]),
        "throughput_interval_cycles": thr["interval_cycles"],
        "throughput_interval_ns": scaled(thr["interval_cycles"]),
        "fill_cycles": thr["fill_cycles"],
        "throughput_images_per_s": thr["images_per_s"],
        "bottleneck_layer": neck.name if neck else None,
        "bottleneck_busy_fraction": (
            (neck.busy_cycles + neck.stall_cycles) / neck.span_cycles
            if neck and neck.span_cycles > 0 else None
        ),
        "accuracy_ci95_low": ci[0] if ci else None,
        "accuracy_ci95_high": ci[1] if ci else None,
    }
    return out
