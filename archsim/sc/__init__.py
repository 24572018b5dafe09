"""Bit-level stochastic computing: stream generation, gates, counters, Btanh, pooling.

- ``archsim.sc.rng``: the random sources of the SNGs (LFSR, Sobol, counter), Kim's Btanh state
  count ``kim_r`` and the packing of bit streams into ``uint64`` words;
- ``archsim.sc.reference``: the NumPy reference of every bit kernel (the oracle);
- ``archsim.sc.kernels``: the kernels the simulator calls, dispatched to the compiled
  ``archsim._kernels_*`` modules when built, else to the reference; both give identical bits.

Definitions: docs/dwcnn-model.md (bipolar coding, XNOR, APC after Kim, Lee and Choi, ISOCC
2015, Btanh after Kim et al., DAC 2016); the API is in ``docs/design.md``.
"""

from archsim.sc.rng import kim_r, n_words, pack_bits, unpack_bits

__all__ = ["kim_r", "n_words", "pack_bits", "unpack_bits"]
