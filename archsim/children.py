"""Child processes that cannot outlive the archsim process that started them.

Two places fork workers: the image-parallel datapath of ``archsim run --jobs N``
(:mod:`archsim.simulator`) and the local sweep backend (:mod:`archsim.sweep.runner`), one
process per design point.  A worker must never keep running, or keep writing into a point
folder, after its parent is gone, however the parent went:

* **SIGKILL of the parent** (nothing in the parent runs): every child asks the kernel for a
  parent-death signal, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux), and also runs a watchdog
  thread that polls ``os.getppid()`` every :data:`WATCHDOG_PERIOD_S` and exits when the
  parent changes (portable, and covers a parent that died between the fork and the prctl).
* **SIGTERM of the parent**: :func:`terminate_raises` turns SIGTERM into a
  :class:`Terminated` exception (a ``KeyboardInterrupt``), so the code that cleans up after
  Ctrl-C (shut the pools down, cancel queued work, kill the workers) runs for it too.
* **Ctrl-C** in a terminal reaches the whole process group; children ignore SIGINT so the
  parent alone decides: it kills them (:func:`kill_all`) and cancels what is queued.

:func:`run_isolated` runs tasks in such children, one process per task and at most ``jobs``
at a time: a child that dies (killed, out of memory) fails its own task only, and the others
go on.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = [
    "Terminated",
    "WATCHDOG_PERIOD_S",
    "WorkerDied",
    "die_with_parent",
    "kill_all",
    "run_isolated",
    "terminate_raises",
]

#: How often a child checks that its parent is still alive.
WATCHDOG_PERIOD_S = 0.5
#: How long a terminated child gets before it is killed.
_GRACE_S = 1.0
_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (or SIGHUP); handled like Ctrl-C, exit code 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)  # args == (signum,): SimPy re-raises it as type(e)(*e.args)
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"terminated by signal {signal.Signals(self.signum).name}"


class WorkerDied(RuntimeError):
    """A worker process ended without returning its result (killed, out of memory)."""


def _set_pdeathsig() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the watchdog alone
        pass


def _watchdog(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(WATCHDOG_PERIOD_S)


def die_with_parent(parent: int) -> None:
    """Initializer of a worker forked by process ``parent``: die when it dies, leave Ctrl-C
    and SIGTERM handling to it (SIGINT ignored, SIGTERM back to its default: exit)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _set_pdeathsig()
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)
    threading.Thread(target=_watchdog, args=(parent,), name="archsim-parent-watchdog",
                     daemon=True).start()


@contextlib.contextmanager
def terminate_raises(signals: Iterable[int] = (signal.SIGTERM,)) -> Iterator[None]:
    """Within the block, the given signals raise :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def kill_all(processes: Iterable[Any], grace_s: float = _GRACE_S) -> None:
    """SIGTERM every live process of ``processes`` (``multiprocessing.Process``), wait up to
    ``grace_s``, SIGKILL the ones left, and reap them all."""
    procs = [p for p in processes if p.is_alive()]
    for p in procs:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                p.kill()
            p.join(1.0)


def _child(fn: Callable[[Any], Any], task: Any, conn: Connection, parent: int) -> None:
    die_with_parent(parent)
    try:
        out = ("ok", fn(task))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides
        out = ("raised", f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    try:
        conn.send(out)
    finally:
        conn.close()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the worker process was killed by signal {signal.Signals(-code).name}"
    return f"the worker process exited with code {code} without a result"


def run_isolated(fn: Callable[[Any], Any], tasks: list[Any], jobs: int
                 ) -> Generator[tuple[int, str, Any], None, None]:
    """Run ``fn(task)`` for each task in a forked child, at most ``jobs`` at once; yield
    ``(index, status, value)`` as they finish: ``("ok", fn's result)``, ``("raised",
    traceback text)`` or ``("died", reason)``.

    If the caller stops early (an exception, Ctrl-C, :class:`Terminated`, or closing the
    generator), queued tasks never start and running children are killed.
    """
    ctx = multiprocessing.get_context("fork")
    parent = os.getpid()
    queue = list(enumerate(tasks))[::-1]
    running: dict[Connection, tuple[int, Any]] = {}
    try:
        while queue or running:
            while queue and len(running) < max(1, jobs):
                i, task = queue.pop()
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(fn, task, send, parent), daemon=True,
                                   name=f"archsim-worker-{i}")
                proc.start()
                send.close()
                running[recv] = (i, proc)
            for conn in wait(list(running)):
                assert isinstance(conn, Connection)
                i, proc = running.pop(conn)
                try:
                    status, value = conn.recv()
                except (EOFError, OSError):
                    proc.join()
                    status, value = "died", _death(proc.exitcode)
                else:
                    proc.join()
                finally:
                    conn.close()
                yield i, status, value
    finally:
        kill_all(p for _, p in running.values())
        for conn in running:
            conn.close()
