"""The YAML files archsim ships: ``dwcnn/`` (design points), ``tech/`` (technology files),
``sweeps/`` and ``reproduce/`` (the studies of ``archsim reproduce``).

This folder is installed as the package ``archsim.arch_configs`` (``setup.py``), so that an
installed wheel has the files and :mod:`archsim.resources` finds them through
:mod:`importlib.resources`, in an editable install too. This file makes it a regular package:
setuptools' editable finder does not resolve a namespace package mapped below a regular one.
"""
