"""Test-session setup shared by every test module.

Tests that need the official data sets read them through ``ARCHSIM_DATA`` (``.ci/run``
points it at ``shared/datasets``) and skip when it is not set.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
