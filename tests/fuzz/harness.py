"""The fuzz suite's sandbox: every example runs in a worker process with a memory limit and a
per-example deadline, through archsim's own command line.

A :class:`Worker` is a long-lived ``python tests/fuzz/harness.py`` subprocess.  The test sends
it one example at a time (files to write into a fresh folder, and the ``archsim`` command to
run there, or a direct reader call); the worker runs it in-process under ``signal.alarm`` and
answers with a JSON line:

* ``exit``: 0 or 2 (what the command returned), or ``"traceback"`` with the traceback text
  (any exception that is not a handled error), or ``"timeout"`` (the deadline passed);
* ``stderr``: what the command printed (the error message);
* ``rss_growth_bytes``: how much the worker's peak RSS grew while the example ran;
* ``finite``: for a completed run, whether every number of its ``summary.json`` is finite.

The worker's address space is capped (``RLIMIT_AS``), so an example that allocates gigabytes
fails instead of taking the machine; if the worker dies or does not answer within the
deadline plus a grace period it is killed and restarted, and the example counts as a failure.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

#: Largest growth of a worker's peak RSS an example may cause.
MAX_RSS_GROWTH = 2 * 1024**3
#: Address-space cap of a worker (the interpreter with numpy and archsim maps ~1.5 GB).
ADDRESS_SPACE = 6 * 1024**3
HERE = Path(__file__).resolve().parent


class Timeout(Exception):
    pass


def _finite(node: Any) -> bool:
    if isinstance(node, float):
        return math.isfinite(node)
    if isinstance(node, dict):
        return all(_finite(v) for v in node.values())
    if isinstance(node, list):
        return all(_finite(v) for v in node)
    return True


def _maxrss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _execute(task: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Run one example in ``folder`` (the worker side)."""
    for name, blob in task.get("files", {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(blob))
    for link, target in task.get("symlinks", {}).items():
        (folder / link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, folder / link)
    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            if task["kind"] == "cli":
                from archsim.cli import main

                try:
                    code: Any = main(task["argv"])
                except SystemExit as exc:  # argparse errors
                    code = exc.code
            elif task["kind"] == "idx":
                from archsim.nn.datasets import load_dataset
                from archsim.nn.errors import DatasetError

                try:
                    images, labels, _ = load_dataset("mnist", data_dir=str(folder / "data"))
                    code = 0
                except DatasetError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    code = 2
            elif task["kind"] == "sweep":
                from archsim.config.errors import ConfigError
                from archsim.sweep.spec import load_sweep

                try:
                    load_sweep(task["argv"][0])
                    code = 0
                except ConfigError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    code = 2
            else:
                raise ValueError(task["kind"])
    finally:
        os.chdir(cwd)
    reply: dict[str, Any] = {"exit": code, "stderr": err.getvalue()[-4000:]}
    summary = folder / "out" / "summary.json"
    if code == 0 and summary.is_file():
        reply["finite"] = _finite(json.loads(summary.read_text(encoding="utf-8")))
    return reply


def _serve() -> None:
    """The worker loop: one JSON task per stdin line, one JSON reply per stdout line."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    def alarm(signum: int, frame: Any) -> None:
        raise Timeout

    signal.signal(signal.SIGALRM, alarm)
    root = Path(tempfile.mkdtemp(prefix="archsim-fuzz-"))
    import archsim.cli  # noqa: F401 - imported once, before the first deadline
    import archsim.fabrics.sc_stream  # noqa: F401

    real_stdout = sys.stdout
    for n, line in enumerate(sys.stdin):
        task = json.loads(line)
        folder = root / f"ex{n}"
        folder.mkdir()
        before = _maxrss()
        signal.alarm(int(task.get("deadline", 30)))
        try:
            reply = _execute(task, folder)
        except Timeout:
            reply = {"exit": "timeout", "stderr": ""}
        except BaseException:  # noqa: BLE001 - every escape is what the fuzz looks for
            reply = {"exit": "traceback", "stderr": traceback.format_exc()[-4000:]}
        finally:
            signal.alarm(0)
        reply["rss_growth_bytes"] = _maxrss() - before
        shutil.rmtree(folder, ignore_errors=True)
        real_stdout.write(json.dumps(reply) + "\n")
        real_stdout.flush()
    shutil.rmtree(root, ignore_errors=True)


class Worker:
    """The test side: a worker process, restarted when it dies or hangs."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.examples = 0

    def _start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        env.pop("ARCHSIM_DATA", None)  # the embedded subsets: no dependence on the machine
        return subprocess.Popen([sys.executable, str(HERE / "harness.py")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env)

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        deadline = int(task.get("deadline", 30))
        self.proc.stdin.write(json.dumps(task) + "\n")
        self.proc.stdin.flush()
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=deadline + 60)  # + the worker's first import
        sel.close()
        self.examples += 1
        if not ready:
            self.close()
            return {"exit": "hang", "stderr": "no answer within the deadline"}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return {"exit": "died", "stderr": f"worker exited with {code}"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def encode(files: dict[str, bytes | str]) -> dict[str, str]:
    """Files for a task: name -> base64 of the bytes."""
    return {name: base64.b64encode(data.encode("utf-8") if isinstance(data, str) else data)
            .decode("ascii") for name, data in files.items()}


def problem(reply: dict[str, Any], names: list[str]) -> str | None:
    """What is wrong with a reply (None: exit 0 with finite results, or exit 2 with a message
    naming one of ``names``)."""
    code = reply["exit"]
    if reply.get("rss_growth_bytes", 0) > MAX_RSS_GROWTH:
        return f"peak RSS grew by {reply['rss_growth_bytes'] / 1e9:.2f} GB"
    if code == 0:
        return None if reply.get("finite", True) else "a non-finite number in summary.json"
    if code == 2:
        err = reply["stderr"]
        if "Traceback" in err:
            return "a traceback printed with exit 2:\n" + err
        if not any(n in err for n in names):
            return f"exit 2 without naming the file ({names}): {err}"
        return None
    return f"exit {code}: {reply['stderr']}"


if __name__ == "__main__":
    _serve()
