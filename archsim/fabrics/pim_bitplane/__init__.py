"""The SOT-MRAM bit-plane in-memory convolution fabric (``fabric: pim_bitplane``).

IMCE (Angizi, He, Parveen, Fan, ASP-DAC 2018) and its ISVLSI 2018 companion (He, Angizi, Fan):
low bit-width CNN layers computed inside computational SOT-MRAM sub-arrays, with weights and
activations stored as bit-planes, dual-row AND sensing, bit-counters and shift-adders, and a
digital unit for batch norm, pooling, residual adds, activation and re-quantization; the
RRAM crossbar design it is compared with is a reference model beside it (``rram.py``).
docs/pim-bitplane.md describes the hardware and the integer arithmetic; modules:

* ``config``: the design-file schema; ``network``: elaboration (every load-time check);
* ``mapping``: sub-array placement and per-step cycles and action counts;
* ``layer``: the layer model (fast path) and its blocks; ``percycle``: the per-cycle model;
* ``bitplane``: the bit-plane arithmetic (NumPy, compiled, plain integers, GEMM);
* ``faults``: dual-row sensing errors; ``rram``: the ISAAC-style crossbar reference.
"""

from __future__ import annotations

from typing import Any

from archsim.engine.fabric import Fabric
from archsim.fabrics import register_fabric


@register_fabric
class PimBitplaneFabric(Fabric):
    """Bit-plane processing in SOT-MRAM sub-arrays behind the fabric interface."""

    name = "pim_bitplane"
    description = ("SOT-MRAM computational sub-arrays: bit-plane AND sensing, bit-counters, "
                   "shift-adders, digital unit (IMCE); ISAAC-style RRAM reference")

    @classmethod
    def config_model(cls) -> type:
        from archsim.fabrics.pim_bitplane.config import PimConfig

        return PimConfig

    def expand(self, raw: dict[str, Any], origins: dict[tuple[Any, ...], str]) -> None:
        """Resolve ``workload:`` against the file that wrote it, and take the workload's data
        set and model under what the design sets."""
        from archsim.workload import load_workload
        from archsim.workload.design import merge_workload_defaults, workload_path

        if "workload" not in raw:
            return
        file = origins.get(("workload",), origins[()])
        path = workload_path(raw["workload"], file)
        raw["workload"] = str(path.resolve())  # absolute: the resolved config loads again
        sets = raw.get("workload_set", [])
        wl = load_workload(path, sets if isinstance(sets, list) else [])
        merge_workload_defaults(raw, origins, wl, str(path))

    def elaborate(self, cfg: Any) -> tuple[Any, dict[str, Any]]:
        from archsim.fabrics.pim_bitplane.network import PimNetwork

        net = PimNetwork(cfg)
        return net, {"weights": net.weights.source, "workload": net.workload.name}

    def input_shape(self, cfg: Any) -> tuple[int, ...]:
        from archsim.fabrics.pim_bitplane.network import design_workload

        return tuple(design_workload(cfg).input.shape)
