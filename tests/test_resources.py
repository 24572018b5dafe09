"""The shipped YAML files (archsim.resources): every file of arch_configs/ is reachable through
importlib.resources, by ``builtin:<name>`` and by ``arch_configs/<name>`` outside a checkout,
and shipped files keep their includes working wherever they are installed.

CI (.ci/run) also builds the wheel, installs it into a second virtual environment and runs
``archsim reproduce dwcnn --only table2`` from a folder outside the checkout.
"""

from __future__ import annotations

import importlib.resources
import zipfile
from pathlib import Path

import pytest

import archsim
from archsim import resources
from archsim.cli import main
from archsim.config import ConfigError, load_config
from archsim.resources import BUILTIN, builtin_path, configs_dir, resolve, shipped_configs
from archsim.sweep.spec import load_sweep

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "arch_configs"
QUICKSTART = "dwcnn/lenet5_dwm_sn128_fc-shared_pc_sc.yaml"
FROM_CHECKOUT = Path(archsim.__file__).resolve().parent.parent == ROOT


def _source_files() -> list[str]:
    return sorted(p.relative_to(SOURCE).as_posix() for p in SOURCE.rglob("*.yaml"))


def test_every_yaml_file_of_arch_configs_is_shipped_with_its_bytes() -> None:
    names = _source_files()
    assert len(names) > 30 and {n.split("/")[0] for n in names} == {
        "dwcnn", "tech", "sweeps", "reproduce", "workloads", "sc_stream", "pim"}
    assert shipped_configs() == names
    for name in names:
        assert builtin_path(name).read_bytes() == (SOURCE / name).read_bytes(), name
    assert shipped_configs("tech") == [n for n in names if n.startswith("tech/")]


@pytest.mark.skipif(not FROM_CHECKOUT, reason="archsim is not imported from this checkout")
def test_a_checkout_finds_its_own_arch_configs_through_importlib_resources() -> None:
    # editable install: the package archsim.arch_configs is the top-level arch_configs/, so an
    # edit there is what archsim runs (no second copy)
    assert Path(str(importlib.resources.files(resources.PACKAGE))).resolve() == SOURCE
    assert configs_dir().resolve() == SOURCE


@pytest.mark.parametrize("name", [n for n in _source_files() if n.startswith("dwcnn/")])
def test_every_shipped_design_loads_by_its_builtin_name(name: str) -> None:
    cfg = load_config(BUILTIN + name)
    assert cfg.resolved_dict() == load_config(SOURCE / name).resolved_dict()
    assert cfg.source_file == configs_dir() / name
    assert cfg.name == Path(name).stem


def test_arch_configs_paths_name_the_shipped_file_outside_a_checkout(tmp_path, monkeypatch
                                                                       ) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve("arch_configs/" + QUICKSTART) == configs_dir() / QUICKSTART
    cfg = load_config("arch_configs/" + QUICKSTART, ["stream.length=256"])
    assert cfg.stream.length == 256 and cfg.technology.dwm is not None  # its include worked
    sweep = load_sweep("arch_configs/sweeps/small_tiny.yaml")
    assert sweep.base == (configs_dir() / "dwcnn" / "small_conv_fc-shared.yaml").resolve()
    assert main(["validate", "arch_configs/dwcnn/small_conv_fc.yaml"]) == 0
    assert main(["validate", "builtin:dwcnn/small_conv_fc.yaml"]) == 0
    # not a shipped name: left alone, and reported missing as before
    assert resolve("arch_configs/dwcnn/nope.yaml") == Path("arch_configs/dwcnn/nope.yaml")
    with pytest.raises(ConfigError, match="expected an existing"):
        load_config("arch_configs/dwcnn/nope.yaml")


def test_a_local_file_wins_over_the_shipped_one(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "arch_configs" / "dwcnn" / "small_conv_fc.yaml"
    local.parent.mkdir(parents=True)
    text = builtin_path("dwcnn/small_conv_fc.yaml").read_text(encoding="utf-8")
    local.write_text(text.replace("include: ../tech/generic45.yaml",
                                  "include: builtin:tech/generic45.yaml")
                     .replace("clock: 200 MHz", "clock: 100 MHz"), encoding="utf-8")
    assert resolve("arch_configs/dwcnn/small_conv_fc.yaml") == Path(
        "arch_configs/dwcnn/small_conv_fc.yaml")
    assert load_config("arch_configs/dwcnn/small_conv_fc.yaml").clock == 100.0
    assert load_config("builtin:dwcnn/small_conv_fc.yaml").clock == 200.0


def test_own_designs_and_sweeps_can_include_shipped_files(tmp_path: Path) -> None:
    design = tmp_path / "mine.yaml"
    design.write_text("include: builtin:dwcnn/small_conv_fc.yaml\nname: mine\nseed: 7\n",
                      encoding="utf-8")
    cfg = load_config(design)
    assert cfg.name == "mine" and cfg.seed == 7 and cfg.layers
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: builtin:dwcnn/small_conv_fc.yaml\naxes:\n  seed: [1, 2]\n",
                     encoding="utf-8")
    s = load_sweep(sweep)
    assert s.base == builtin_path("dwcnn/small_conv_fc.yaml").resolve() and len(s.combos) == 2


@pytest.mark.parametrize("text, message", [
    ("builtin:dwcnn/nope.yaml", "builtin:dwcnn/small_conv_fc.yaml"),  # lists that folder
    ("builtin:nope.yaml", "builtin:tech/generic45.yaml"),              # lists every file
    ("builtin:../pyproject.toml", "path below arch_configs/"),
    ("builtin:/etc/passwd", "path below arch_configs/"),
])
def test_an_unknown_shipped_name_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="expected") as e:
        load_config(text)
    assert message in str(e.value)


def test_an_unknown_shipped_include_names_the_including_file(tmp_path: Path) -> None:
    design = tmp_path / "mine.yaml"
    design.write_text("include: [builtin:tech/generic99.yaml]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(design)
    assert e.value.key_path == "include[0]" and e.value.file.endswith("mine.yaml")
    assert "builtin:tech/generic45.yaml" in e.value.expected


def test_reproduce_takes_shipped_technologies_by_builtin_name(tmp_path, monkeypatch,
                                                              capsys) -> None:
    monkeypatch.chdir(tmp_path)
    rc = main(["reproduce", "dwcnn", "--only", "table3", "--images", "1",
               "--tech", "builtin:tech/nope.yaml"])
    assert rc == 2 and "builtin:tech/dwcnn_calibrated.yaml" in capsys.readouterr().err
    from archsim.reproduce.studies import configs_dir as studies_configs_dir

    assert (studies_configs_dir() / "tech" / "dwcnn_calibrated.yaml").is_file()


def test_configs_outside_the_file_system_are_copied_out_with_their_tree(tmp_path, monkeypatch
                                                                         ) -> None:
    """A package imported from a zip: importlib.resources gives no file-system path, so the
    tree is copied out once (includes are relative paths and need their folders)."""
    archive = tmp_path / "configs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in _source_files():
            z.write(SOURCE / name, f"archsim/arch_configs/{name}")
    zroot = zipfile.Path(archive, "archsim/arch_configs/")
    monkeypatch.setattr(importlib.resources, "files", lambda package: zroot)
    configs_dir.cache_clear()
    try:
        copied = configs_dir()
        assert copied != SOURCE and shipped_configs() == _source_files()
        cfg = load_config(BUILTIN + QUICKSTART)
        # the checkout's copy, for comparison: its includes lie outside the (now copied)
        # shipped folder, so its tree is named as an include root
        monkeypatch.setenv("ARCHSIM_INCLUDE_PATH", str(SOURCE))
        assert cfg.resolved_dict() == load_config(SOURCE / QUICKSTART).resolved_dict()
    finally:
        configs_dir.cache_clear()
