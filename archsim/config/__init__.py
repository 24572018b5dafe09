"""archsim.config: the architecture description, from YAML to a validated :class:`ArchConfig`.

``load_config(path, overrides=())`` reads a YAML file (with its includes and ``key.path=value``
overrides) and returns an :class:`ArchConfig`; any problem is a :class:`ConfigError` naming the
file, key path, value and what was expected. The schema is documented in docs/config.md.
"""

from archsim.config.errors import MISSING, ConfigError, format_key_path, parse_key_path
from archsim.config.loader import apply_override, load_config, load_raw
from archsim.config.schema import (
    TECH_KEYS,
    ArchConfig,
    Btanh,
    ConvLayer,
    Dataset,
    DwmMemory,
    DwmTech,
    FcLayer,
    Layer,
    LogicTech,
    LogicUnit,
    Memory,
    MemoryTech,
    Misalignment,
    ModelSpec,
    Rng,
    SramMemory,
    SramTech,
    Stream,
    SttMramMemory,
    SttMramTech,
    Technology,
    TechValue,
    Weights,
)

__all__ = [
    "MISSING",
    "TECH_KEYS",
    "ArchConfig",
    "Btanh",
    "ConfigError",
    "ConvLayer",
    "Dataset",
    "DwmMemory",
    "DwmTech",
    "FcLayer",
    "Layer",
    "LogicTech",
    "LogicUnit",
    "Memory",
    "MemoryTech",
    "Misalignment",
    "ModelSpec",
    "Rng",
    "SramMemory",
    "SramTech",
    "Stream",
    "SttMramMemory",
    "SttMramTech",
    "TechValue",
    "Technology",
    "Weights",
    "apply_override",
    "format_key_path",
    "load_config",
    "load_raw",
    "parse_key_path",
]
