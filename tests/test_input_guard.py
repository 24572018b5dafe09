"""The load-time guard of YAML inputs (issue 20, classes 2, 3 and 5): includes confined to the
top-level file's tree, regular files only, refused content never echoed, resource bombs
refused before parsing, every quantity finite and in range, names that stay under traces/.

Each test reproduces a failure of the code before the guard (a leak, a hang, a traceback, or
a silently accepted value) and checks the ConfigError that replaces it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archsim.config import ConfigError, load_config
from archsim.config.guard import (
    INCLUDE_PATH_ENV,
    MAX_FILE_BYTES,
    MAX_INT_DIGITS,
    MAX_YAML_DEPTH,
    is_safe_name,
    safe_name,
)
from archsim.resources import configs_dir
from archsim.sweep.spec import load_sweep

SECRET = "s3cr3t-token-4f9a"

DESIGN = """\
name: guarded
include: builtin:tech/generic45.yaml
clock: 200 MHz
dataset: {name: random, images: 1}
stream: {length: 64}
memories:
  dwm0: {kind: dwm, domains: 64, ports: 1}
layers:
  - {name: conv1, kind: conv, in_channels: 1, in_size: 8, filters: 2, kernel: 3, pool: 2,
     weights: {memory: dwm0, format: stochastic, length: 16}, sharing: filter,
     pool_segment: 8}
  - {name: fc1, kind: fc, inputs: 18, outputs: 4, mux_groups: 3, activation: none,
     weights: {memory: dwm0, format: stochastic, length: 16}}
"""


def _design(folder: Path, extra: str = "", name: str = "d.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(DESIGN + extra, encoding="utf-8")
    return path


def _with_include(folder: Path, include: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "d.yaml"
    path.write_text(DESIGN.replace("include: builtin:tech/generic45.yaml",
                                   f"include: [builtin:tech/generic45.yaml, {include!r}]"),
                    encoding="utf-8")
    return path


def _refused(path: Path, *overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    return info.value


def test_the_guarded_design_loads(tmp_path):
    assert load_config(_design(tmp_path)).name == "guarded"


# --------------------------------------------------------------------------------------------
# class 2: includes and paths
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_include_outside_the_top_level_tree_is_refused(tmp_path, how):
    outside = tmp_path / "private" / "creds.yaml"
    outside.parent.mkdir()
    outside.write_text(f"token: {SECRET}\n", encoding="utf-8")
    text = "../private/creds.yaml" if how == "relative" else str(outside)
    err = _refused(_with_include(tmp_path / "designs", text))
    assert "d.yaml" in err.file and err.key_path == "include[1]"
    assert INCLUDE_PATH_ENV in err.expected
    assert SECRET not in str(err)


def test_include_path_env_allows_a_folder(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "seed.yaml").write_text("seed: 7\n", encoding="utf-8")
    path = _with_include(tmp_path / "designs", "../shared/seed.yaml")
    _refused(path)
    monkeypatch.setenv(INCLUDE_PATH_ENV, str(shared))
    assert load_config(path).seed == 7


def test_include_inside_the_tree_and_shipped_tree_are_allowed(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "seed.yaml").write_text("seed: 9\n", encoding="utf-8")
    assert load_config(_with_include(tmp_path, "parts/seed.yaml")).seed == 9
    shipped = configs_dir() / "tech" / "generic45.yaml"
    assert load_config(_with_include(tmp_path, str(shipped))).name == "guarded"


def test_proc_environ_is_refused_without_echo(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHSIM_TEST_SECRET", SECRET)
    monkeypatch.setenv(INCLUDE_PATH_ENV, "/")  # even an allow-list of / cannot reach /proc
    err = _refused(_with_include(tmp_path, "/proc/self/environ"))
    assert "regular file" in err.expected
    assert SECRET not in str(err)


def test_a_device_and_a_directory_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(INCLUDE_PATH_ENV, "/dev")
    assert "regular file" in _refused(_with_include(tmp_path / "a", "/dev/zero")).expected
    (tmp_path / "b" / "sub.yaml").mkdir(parents=True)
    _refused(_with_include(tmp_path / "b", "sub.yaml"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    path = _with_include(tmp_path, "pipe.yaml")
    os.mkfifo(tmp_path / "pipe.yaml")
    code = ("import sys\nfrom archsim.config import load_config, ConfigError\n"
            "try:\n    load_config(sys.argv[1])\nexcept ConfigError as e:\n"
            "    print(e)\n    sys.exit(2)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "regular file" in proc.stdout


def test_a_symlink_loop_is_a_config_error(tmp_path):
    (tmp_path / "loop_a.yaml").symlink_to(tmp_path / "loop_b.yaml")
    (tmp_path / "loop_b.yaml").symlink_to(tmp_path / "loop_a.yaml")
    err = _refused(_with_include(tmp_path, "loop_a.yaml"))
    assert "d.yaml" in err.file or "loop" in str(err)
    # and as the top-level file
    with pytest.raises(ConfigError):
        load_config(tmp_path / "loop_a.yaml")


def test_a_symlink_inside_the_tree_to_outside_is_refused(tmp_path):
    outside = tmp_path / "private.yaml"
    outside.write_text(f"token: {SECRET}\n", encoding="utf-8")
    (tmp_path / "designs").mkdir()
    (tmp_path / "designs" / "link.yaml").symlink_to(outside)
    err = _refused(_with_include(tmp_path / "designs", "link.yaml"))
    assert SECRET not in str(err)


@pytest.mark.parametrize("content", [
    f"- {SECRET}\n- two\n",  # a list
    f"{SECRET}\n",  # a scalar
    f"API_KEY={SECRET}\nOTHER: [unclosed\n",  # a .env file: not YAML
    f"key: [{SECRET}\n",  # a syntax error on the line holding the secret
])
def test_content_of_a_refused_file_is_never_echoed(tmp_path, content):
    (tmp_path / ".env").write_text(content, encoding="utf-8")
    for path in (tmp_path / ".env", _with_include(tmp_path / "x", "../.env"),
                 _with_include(tmp_path, ".env")):
        err = _refused(path)
        assert SECRET not in str(err) and all(SECRET not in str(o) for o in err.others)


def test_workload_outside_the_tree_is_refused(tmp_path):
    outside = tmp_path / "elsewhere" / "w.yaml"
    outside.parent.mkdir()
    shipped = configs_dir() / "workloads" / "small_cnn32.yaml"
    outside.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    folder = tmp_path / "designs"
    folder.mkdir()
    path = folder / "d.yaml"
    path.write_text("include: builtin:tech/generic45.yaml\nclock: 200 MHz\n"
                    "workload: ../elsewhere/w.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert INCLUDE_PATH_ENV in info.value.expected


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs", "a/b", "..", ".hidden", "-x",
                                  "a\\b", "x" * 101, "a..b", "tab\tname", ""])
def test_unsafe_design_names_are_refused(tmp_path, name):
    err = _refused(_design(tmp_path), f"name={name!r}" if name else "name=''")
    assert err.key_path == "name"
    assert not is_safe_name(name)


def test_default_name_from_an_odd_file_stem_is_made_safe(tmp_path):
    path = _design(tmp_path, name="my design (v2).yaml")
    text = path.read_text(encoding="utf-8").replace("name: guarded\n", "")
    path.write_text(text, encoding="utf-8")
    assert load_config(path).name == "my_design__v2_"
    assert is_safe_name(safe_name("..")) and is_safe_name(safe_name("/../.."))


@pytest.mark.parametrize("name", ["../../escape", "/abs/path", "sub/dir"])
def test_unsafe_sweep_names_are_refused(tmp_path, name):
    _design(tmp_path)
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: {name!r}\nbase: d.yaml\naxes: {{seed: [1, 2]}}\n",
                     encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_sweep(sweep)
    assert info.value.key_path == "name"


def test_sweep_base_outside_the_tree_is_refused(tmp_path):
    _design(tmp_path / "other")
    (tmp_path / "sweeps").mkdir()
    sweep = tmp_path / "sweeps" / "s.yaml"
    sweep.write_text("base: ../other/d.yaml\naxes: {seed: [1, 2]}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_sweep(sweep)
    assert info.value.key_path == "base"


def test_cli_name_escape_writes_nothing_outside(tmp_path):
    path = _design(tmp_path / "d")
    proc = subprocess.run(
        [sys.executable, "-m", "archsim", "run", str(path), "--set", "name=../../escaped",
         "--quiet"], cwd=tmp_path / "d", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.glob("escaped*"))
    assert not (tmp_path / "d" / "traces").exists()


# --------------------------------------------------------------------------------------------
# class 3: resource bombs
# --------------------------------------------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _timed_refusal(path: Path, *overrides: str, limit_s: float = 10.0) -> ConfigError:
    """The refusal, in less than ``limit_s`` seconds of this process's CPU time (a bomb that
    got through would take minutes or forever; CPU time, unlike wall time, does not grow when
    other jobs share the machine)."""
    t0 = time.process_time()
    err = _refused(path, *overrides)
    assert time.process_time() - t0 < limit_s
    return err


def test_billion_laughs_is_refused_quickly(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    assert path.stat().st_size < 1100
    err = _timed_refusal(path)
    assert "alias" in err.expected and "bomb.yaml" in err.file
    # included from a design, and in the sweep loader
    _timed_refusal(_with_include(tmp_path, "bomb.yaml"))
    sweep = tmp_path / "s.yaml"
    sweep.write_text(BILLION_LAUGHS + "base: d.yaml\naxes: {seed: [1]}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_sweep(sweep)


def test_alias_bomb_in_an_override_is_refused(tmp_path):
    bomb = "[" + ",".join(["&x0 [1,1,1,1,1,1,1,1,1,1]"] + [
        f"&x{i} [" + ",".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, 9)]) + "]"
    err = _timed_refusal(_design(tmp_path), f"description={bomb}")
    assert "override" in err.file


def test_recursive_alias_is_refused(tmp_path):
    path = _design(tmp_path, "probes: &p [*p]\n")
    _timed_refusal(path)


def test_a_large_file_is_refused_before_parsing(tmp_path):
    path = _design(tmp_path)
    with path.open("a", encoding="utf-8") as f:
        line = "# " + "x" * 1000 + "\n"
        f.write(line * (MAX_FILE_BYTES // len(line) + 10))
    err = _timed_refusal(path)
    assert str(MAX_FILE_BYTES) in err.expected


def test_deep_nesting_is_refused(tmp_path):
    for depth in (MAX_YAML_DEPTH + 5, 20_000):
        path = tmp_path / f"deep{depth}.yaml"
        path.write_text("a: " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
        assert "nested" in _timed_refusal(path).expected
        path.write_text("a: " + "{b: " * depth + "1" + "}" * depth + "\n", encoding="utf-8")
        _timed_refusal(path)


def test_huge_integer_is_refused(tmp_path):
    err = _timed_refusal(_design(tmp_path), "seed=" + "9" * 5000)
    assert str(MAX_INT_DIGITS) in err.expected
    path = _design(tmp_path / "f", "\n".join([]) )
    path.write_text(DESIGN.replace("clock: 200 MHz", "clock: 200 MHz\nseed: " + "7" * 5000),
                    encoding="utf-8")
    _timed_refusal(path)


def test_nul_bytes_are_refused(tmp_path):
    path = _design(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"clock: 200 MHz", b"clock: 200\x00MHz"))
    assert "NUL" in _timed_refusal(path).expected
    path.write_bytes(b"\xff\xfe" + path.read_bytes())
    _timed_refusal(path)


# --------------------------------------------------------------------------------------------
# class 5: silently wrong values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("override,key", [
    ("clock=1e400 MHz", "clock"),
    ("clock=1e-30 MHz", "clock"),
    ("clock=1e30 GHz", "clock"),
    ("memories.dwm0.shift_latency=1e30 ns", "memories.dwm0.shift_latency"),
    ("memories.dwm0.read_energy_per_bit=1e400 pJ", "memories.dwm0.read_energy_per_bit"),
    ("memories.dwm0.leakage_per_bit=1e9 W", "memories.dwm0.leakage_per_bit"),
    ("memories.dwm0.cell_area=1e20 m^2", "memories.dwm0.cell_area"),
    ("layers.conv1.output_flip=.nan", "layers.conv1.output_flip"),
    ("layers.conv1.btanh.s=.inf", "layers.conv1.btanh.s"),
    ("layers.conv1.btanh.s=1e400", "layers.conv1.btanh.s"),
    ("memories.dwm0.misalignment.probability=.nan",
     "memories.dwm0.misalignment.probability"),
])
def test_non_finite_and_out_of_range_quantities_are_refused(tmp_path, override, key):
    err = _refused(_design(tmp_path), override)
    got = err.key_path.removesuffix(".value")
    assert got in (key, key.replace("layers.conv1", "layers[0]")), err


def test_non_finite_number_in_a_file_names_its_key(tmp_path):
    path = _design(tmp_path)
    path.write_text(DESIGN.replace("kernel: 3, pool: 2,", "kernel: 3, pool: 2, "
                                   "btanh: {s: 1e400},"), encoding="utf-8")
    err = _refused(path)
    assert err.key_path == "layers[0].btanh.s" and "finite" in err.expected


def test_technology_number_of_infinity_is_refused(tmp_path):
    path = _design(tmp_path, "technology:\n  dwm:\n    shift_latency: {value: 1e400 ns, "
                   "source: test}\n")
    err = _refused(path)
    assert err.key_path == "technology.dwm.shift_latency.value"
