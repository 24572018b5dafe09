"""Domain-wall memory (racetrack) nanowire heads: ports, shifting and alignment.

A DWM track (nanowire) holds ``domains`` magnetic domains that shift together past
``ports`` fixed access ports.  Port j sits at domain ``j * domains / ports`` when the track is
at rest.  Before a read or write the track must shift so that the addressed domain is under
a port; the whole track (and every port's view of it) moves by the same displacement.

This module follows RTSim's racetrack controller (tud-ccc/RTSim ``SubArray.cpp``):

* ``port_select = "static"``: the address fixes the port (``port = domain // (domains/ports)``,
  one zone per port); ``"nearest"``: the port whose current position is closest.
* ``port_update = "lazy"``: the track stays where the access left it (cost d steps);
  ``"eager"``: it returns to its rest position after the access (cost 2d steps).
* ``rw_ports``: ports that can write; a write uses the best write-capable port.

State is the track's signed displacement from rest; both bounds are checked (RTSim checks
only one).  All tracks of a nanowire group (a DBC / word) shift in lockstep, so one head
model stands for the whole group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class NanowireHeads:
    """Head (port alignment) state of one group of tracks that shift together."""

    def __init__(
        self,
        domains: int,
        ports: int = 1,
        port_select: str = "static",
        port_update: str = "lazy",
        rw_ports: Sequence[int] | None = None,
    ) -> None:
        if domains < 1:
            raise ValueError(f"domains(={domains}) must be >= 1")
        if ports < 1 or domains % ports:
            raise ValueError(f"ports(={ports}) must be >= 1 and divide domains(={domains})")
        if port_select not in ("static", "nearest"):
            raise ValueError(f"port_select(={port_select!r}) must be 'static' or 'nearest'")
        if port_update not in ("lazy", "eager"):
            raise ValueError(f"port_update(={port_update!r}) must be 'lazy' or 'eager'")
        self.domains = domains
        self.ports = ports
        self.zone = domains // ports
        self.port_select = port_select
        self.port_update = port_update
        self.rw_ports = tuple(range(ports)) if rw_ports is None else tuple(rw_ports)
        if not self.rw_ports or any(not 0 <= p < ports for p in self.rw_ports):
            raise ValueError(f"rw_ports(={rw_ports}) must name ports in 0..{ports - 1}")
        self.home = np.arange(ports, dtype=np.int64) * self.zone
        # displacement: the domain under port j is home[j] + offset
        self.offset = 0

    # ------------------------------------------------------------------ state
    def state(self) -> int:
        return self.offset

    def set_state(self, offset: int) -> None:
        self.offset = int(offset)

    def reset(self) -> None:
        self.offset = 0

    # ---------------------------------------------------------------- access
    def _choose_port(self, domain: int, write: bool) -> int:
        candidates = self.rw_ports if write else range(self.ports)
        if self.port_select == "static" and not write:
            return domain // self.zone
        if self.port_select == "static":
            want = domain // self.zone
            if want in self.rw_ports:
                return want
        # nearest (or a static write whose zone port cannot write): closest current position
        best, best_d = -1, None
        for p in candidates:
            d = abs(int(self.home[p]) + self.offset - domain)
            if best_d is None or d < best_d:  # ties: lowest port index
                best, best_d = p, d
        return best

    def access(self, domain: int, write: bool = False) -> int:
        """Align ``domain`` under a port; return the one-domain shift steps this costs."""
        if not 0 <= domain < self.domains:
            raise IndexError(f"domain {domain} outside track of {self.domains} domains")
        port = self._choose_port(domain, write)
        new_offset = domain - int(self.home[port])
        d = abs(new_offset - self.offset)
        # every port must still face a domain of the track (no shifting data off the end)
        lo, hi = -int(self.home[-1]), self.domains - 1
        if not lo - self.zone < new_offset <= hi:
            raise IndexError(f"shift to offset {new_offset} leaves the track")
        if self.port_update == "lazy":
            self.offset = new_offset
            return d
        # eager: align, access, come back to rest
        return d + abs(new_offset)

    def access_many(self, domains: np.ndarray, write: bool = False) -> np.ndarray:
        """Shift steps of each access of a sequence (state carried through)."""
        out = np.empty(len(domains), dtype=np.int64)
        for i, dom in enumerate(domains.tolist()):
            out[i] = self.access(dom, write)
        return out


class NanowireChain:
    """A logical nanowire longer than one track, stored on ``ceil(length/domains)`` tracks.

    Logical domain ``a`` lives on track ``a // domains`` at domain ``a % domains``; each track
    has its own heads.  Reading a long stochastic stream walks the chain track by track.
    """

    def __init__(
        self,
        length: int,
        domains: int,
        ports: int = 1,
        port_select: str = "static",
        port_update: str = "lazy",
        rw_ports: Sequence[int] | None = None,
    ) -> None:
        """``length`` logical domains; every track's heads as ``NanowireHeads(domains, ports,
        port_select, port_update, rw_ports)``."""
        if length < 1:
            raise ValueError(f"length(={length}) must be >= 1")
        self.length = length
        self.domains = domains
        self.tracks = [NanowireHeads(domains, ports, port_select, port_update, rw_ports)
                       for _ in range(-(-length // domains))]

    def state(self) -> tuple[int, ...]:
        """The tracks' port offsets (the fast engine keys its per-image shift cache on it,
        once per layer and image, so this reads the attribute directly)."""
        return tuple([t.offset for t in self.tracks])

    def set_state(self, state: tuple[int, ...]) -> None:
        if len(state) != len(self.tracks):
            raise ValueError(f"state has {len(state)} offsets for {len(self.tracks)} tracks")
        for t, s in zip(self.tracks, state, strict=True):
            t.offset = int(s)

    def access_many(self, addresses: np.ndarray, write: bool = False) -> np.ndarray:
        out = np.empty(len(addresses), dtype=np.int64)
        dom = self.domains
        for i, a in enumerate(addresses.tolist()):
            out[i] = self.tracks[a // dom].access(a % dom, write)
        return out
