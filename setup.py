"""Build the archsim package and its Cython bit kernels.

The kernels live in ``cython_kernels/*.pyx``, one module per concern, each compiled into the
``archsim`` package as ``archsim._kernels_<name>``; they cimport the shared inline helpers of
``cython_kernels/*.pxd`` and include the C headers ``cython_kernels/*.h``.  When a C compiler
is missing the package still installs: archsim then falls back to the NumPy reference kernels,
which give identical bits.

The top-level ``arch_configs/`` (designs, technology files, sweeps, reproduction studies) is
installed as the package ``archsim.arch_configs``: its YAML files are package data (see
``[tool.setuptools.package-data]`` in pyproject.toml), found at run time through
``importlib.resources`` (``archsim/resources.py``), in an editable install as in a wheel.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent


def _extensions():
    try:
        import numpy as np
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:  # pragma: no cover - build requirements are declared in pyproject
        print("archsim: Cython/NumPy missing, building without compiled kernels", file=sys.stderr)
        return []
    compile_args = ["-O3"]
    portable = os.environ.get("ARCHSIM_PORTABLE") == "1"
    if not portable:
        # archsim is compiled where it runs (pip builds from source), so the kernels use the
        # host's vector units (AVX2 on current x86-64: ~25% faster bit-sliced counters).
        # ARCHSIM_PORTABLE=1 builds for any CPU of the architecture instead.
        compile_args += ["-march=native"]
    elif platform.machine() in ("x86_64", "AMD64"):
        compile_args += ["-mpopcnt"]  # POPCNT: every x86-64 CPU since 2008
    if portable:
        # the 256-bit vector types of the headers (hs_simd.h, bs_btanh.h, mux_fc.h) are lowered
        # to the target's vectors; the ABI note GCC prints for them does not apply (the
        # functions are static, never exported)
        compile_args += ["-Wno-psabi"]
    kernels = HERE / "cython_kernels"
    # the shared .pxd and .h files: a change to any of them rebuilds every module
    shared = sorted([*kernels.glob("*.h"), *kernels.glob("*.pxd")])
    depends = [str(p.relative_to(HERE)) for p in shared]
    exts = [
        Extension(
            f"archsim._kernels_{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            depends=depends,
            include_dirs=[np.get_include(), str(kernels)],
            extra_compile_args=compile_args,
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for pyx in sorted(kernels.glob("*.pyx"))
    ]
    return cythonize(
        exts,
        include_path=[str(kernels)],  # the cimports of the shared .pxd files
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
        quiet=True,
    )


#: archsim and its subpackages (what ``packages.find`` with ``include = ["archsim*"]`` found),
#: and arch_configs/ mapped to archsim.arch_configs, its folders (YAML only) as its subpackages.
PACKAGES = [
    *find_namespace_packages(where=str(HERE), include=["archsim", "archsim.*"],
                             exclude=["*.__pycache__"]),
    "hwcomponents_archsim",  # the hwcomponents plug-in (found by its top-level name)
    "archsim.arch_configs",
    *(f"archsim.arch_configs.{p}" for p in find_namespace_packages(
        where=str(HERE / "arch_configs"), exclude=["*__pycache__"])),
]
PACKAGE_DIR = {"archsim.arch_configs": "arch_configs"}

setup(ext_modules=_extensions(), packages=PACKAGES, package_dir=PACKAGE_DIR)
