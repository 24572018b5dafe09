"""The simulation environment: SimPy with integer clock-cycle time and an event counter.

Time is an integer count of clock cycles of the accelerator's clock; seconds appear only in
outputs.  The counter lets runs report how many SimPy events they scheduled (fast mode
schedules a few per layer per image, the per-cycle reference one per block per cycle).
"""

from __future__ import annotations

import simpy
from simpy.core import SimTime
from simpy.events import NORMAL, EventPriority


class CycleEnvironment(simpy.Environment):
    """A SimPy environment whose clock counts cycles and which counts scheduled events."""

    def __init__(self) -> None:
        super().__init__(initial_time=0)
        self.events_scheduled = 0

    def schedule(
        self, event: simpy.Event, priority: EventPriority = NORMAL, delay: SimTime = 0
    ) -> None:
        if delay != int(delay) or delay < 0:
            raise ValueError(f"delay(={delay}) must be a non-negative whole number of cycles")
        self.events_scheduled += 1
        super().schedule(event, priority, int(delay))

    def cycles(self, n: int) -> simpy.Timeout:
        """A timeout of exactly ``n`` cycles."""
        return self.timeout(int(n))
