"""Modules that are also functions: ``archsim.run(...)``, ``archsim.sweep(...)`` and
``archsim.reproduce(...)``.

The Python API names its run, sweep and reproduction functions after the modules that
implement them (``archsim.run``, ``archsim.sweep``, ``archsim.reproduce``). ``archsim.run``
can only be one object, and once the module is imported it is the module, so those modules
make their module object callable (:func:`make_callable`): calling it calls the API
function, and every import of the module and its submodules (``import archsim.sweep.plots``,
``from archsim.run import run_config``) works as before.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__all__ = ["make_callable"]


class _CallableModule(types.ModuleType):
    """A module whose call is ``archsim.api.<__api_function__>``."""

    __api_function__: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        api = importlib.import_module("archsim.api")
        return getattr(api, self.__api_function__)(*args, **kwargs)


def make_callable(module_name: str, api_function: str) -> None:
    """Make the module ``module_name`` (already in ``sys.modules``) callable as
    ``archsim.api.<api_function>``."""
    module = sys.modules[module_name]
    module.__class__ = _CallableModule
    module.__api_function__ = api_function  # type: ignore[attr-defined]
