"""The numbers DW-CNN publishes (Ma et al., "An Area and Energy Efficient Design of Domain-Wall
Memory-Based Deep Convolutional Neural Networks using Stochastic Computing", ISQED 2018).

Only values printed in the paper's text and tables are here; Fig. 8 and Fig. 11 are images
whose values the text does not state, so for them only the stated trends are kept
(:data:`FIG8_CLAIM_BITS`, the Fig. 11 sentences checked in :mod:`archsim.reproduce.trends`).
"""

from __future__ import annotations

#: Table I: weight storage of LeNet-5 (read/write circuitry and binary-to-stochastic
#: conversion included). Keys: (format, memory).
TABLE1_AREA_MM2: dict[tuple[str, str], float] = {
    ("bin7", "sram"): 6.12, ("bin7", "dwm"): 5.96,
    ("sn128", "sram"): 3.64, ("sn128", "dwm"): 0.15,
}
TABLE1_POWER_W: dict[tuple[str, str], float] = {
    ("bin7", "sram"): 1.06, ("bin7", "dwm"): 0.76,
    ("sn128", "sram"): 7.04, ("sn128", "dwm"): 0.46,
}
TABLE1_COLUMNS: tuple[tuple[str, str], ...] = (
    ("bin7", "sram"), ("bin7", "dwm"), ("sn128", "sram"), ("sn128", "dwm"))

#: Table II: the (last) fully connected layer in DWM, shared vs unshared, per stored weight
#: stream length (bits). Keys: (length, structure).
TABLE2_LENGTHS: tuple[int, ...] = (32, 64, 128, 512, 1024)
TABLE2_POWER_MW: dict[tuple[int, str], float] = {
    (32, "shared"): 24.67, (32, "unshared"): 428.97,
    (64, "shared"): 26.10, (64, "unshared"): 430.40,
    (128, "shared"): 28.96, (128, "unshared"): 433.26,
    (512, "shared"): 46.13, (512, "unshared"): 450.43,
    (1024, "shared"): 69.02, (1024, "unshared"): 473.31,
}
TABLE2_ENERGY_NJ: dict[tuple[int, str], float] = {
    (32, "shared"): 2071.51, (32, "unshared"): 2196.31,
    (64, "shared"): 2191.63, (64, "unshared"): 2203.64,
    (128, "shared"): 2431.86, (128, "unshared"): 2218.29,
    (512, "shared"): 3873.26, (512, "unshared"): 2306.18,
    (1024, "shared"): 5795.14, (1024, "unshared"): 2423.37,
}
TABLE2_AREA_UM2: dict[tuple[int, str], float] = {
    (32, "shared"): 18410, (32, "unshared"): 38860,
    (64, "shared"): 18875, (64, "unshared"): 39324,
    (128, "shared"): 19804, (128, "unshared"): 40254,
    (512, "shared"): 25379, (512, "unshared"): 45829,
    (1024, "shared"): 32814, (1024, "unshared"): 53263,
}

#: Table III: accuracy (%) vs the last FC layer's weight stream length, 1024-bit inputs.
TABLE3_ACCURACY_PCT: dict[int, float] = {
    32: 99.04, 64: 99.04, 128: 98.94, 256: 98.95, 512: 99.00, 1024: 99.01,
}

#: Fig. 8: "the error rates in both single layer and all layers are low enough when the
#: weight precision is seven bits".
FIG8_CLAIM_BITS = 7

#: Section V headline claims: sharing reduces the FC area "by up to 52.6%" and the power
#: "by 17.35x" compared with the unshared layer.
CLAIM_AREA_SAVING_PCT = 52.6
CLAIM_POWER_RATIO = 17.35

#: The input stream length of the paper's experiments (Section V: 1024-bit inputs).
INPUT_STREAM_BITS = 1024
