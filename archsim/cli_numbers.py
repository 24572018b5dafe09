"""Range checks of the command line's numeric options, in one place.

argparse reads ``--images -3`` as the integer -3; :func:`check_numbers` refuses every number
outside its range after parsing (``archsim run --images 0`` ran nothing and reported a complete
run folder), so :func:`archsim.cli.main` exits 2 with the option named before anything is read
or written.
"""

from __future__ import annotations

import argparse

from archsim.config.schema import MAX_IMAGES

__all__ = ["RANGES", "check_numbers"]

#: option (argparse dest) -> (lowest, highest, what)
RANGES: dict[str, tuple[int, int, str]] = {
    "images": (1, MAX_IMAGES, "a number of images"),
    "hw_images": (1, MAX_IMAGES, "a number of images"),
    "start": (0, MAX_IMAGES, "the index of the first image"),
    "seed": (0, 2**63 - 1, "a seed"),
    "jobs": (1, 1024, "a number of worker processes"),
    "probe_images": (1, MAX_IMAGES, "a number of images"),
}


def check_numbers(args: argparse.Namespace) -> str | None:
    """The first numeric option outside its range, as an error message (None: all fine)."""
    for dest, (low, high, what) in RANGES.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if not low <= value <= high:
            option = "--" + dest.replace("_", "-")
            return f"argument {option}: {value} is out of range; expected {what} in {low}..{high}"
    return None
