"""Errors raised while reading, fetching or choosing the image data sets that feed the
LeNet-5 workloads (MNIST, Fashion-MNIST)."""

from __future__ import annotations


class DatasetError(Exception):
    """A data set file is missing, corrupted or not what the registry says it is.

    The message always names the file (or folder) involved and, where it helps, says how to
    get a good copy (``archsim data fetch NAME --dir DIR``).
    """
