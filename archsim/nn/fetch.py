"""Download of the official data set files into a data directory, verified and atomic.

``fetch_dataset(name, dest_dir)`` writes ``<dest_dir>/<name>/<file>`` for the files in the
registry (:mod:`archsim.nn.datasets`: the four IDX files of MNIST and Fashion-MNIST, the one
archive of CIFAR-10, :mod:`archsim.nn.cifar10`). Each file is streamed into a temporary file
in the same folder (created exclusively, never through a symlink), its size and SHA-256 are
checked against the registry, and only then is it renamed into place with ``os.replace``; a
bad or interrupted download leaves no file behind. Files already present with the right
checksum are not downloaded again.

What the network may do is bounded: URLs are ``https://`` (plain ``http://`` only with
``allow_http``, the ``--allow-http`` option, e.g. for a local mirror), redirects may not
downgrade to ``http://``, a download larger than the official size is cut off, each socket
operation has a ``timeout`` and the whole fetch an overall ``deadline_s``: a server that
trickles a byte every few seconds is stopped at the deadline (the socket is shut down from a
timer, so a stalled header or body read ends too).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from archsim.nn.datasets import DATA_ENV_VAR, FileSpec, get_dataset, resolve_data_dir
from archsim.nn.errors import DatasetError

DEFAULT_TIMEOUT_S = 60.0
#: the whole fetch (every file of the data set) must finish within this (an hour: CIFAR-10's
#: 170 MB at 50 kB/s)
DEFAULT_DEADLINE_S = 3600.0
_CHUNK = 1 << 16
_MAX_REDIRECTS = 5

__all__ = ["check_url", "fetch_dataset", "fetch_main", "file_is_valid", "sha256_file"]


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_is_valid(path: Path, spec: FileSpec) -> bool:
    """True if ``path`` exists with the registry's size and SHA-256."""
    return path.is_file() and path.stat().st_size == spec.size and sha256_file(path) == spec.sha256


def check_url(url: str, allow_http: bool = False) -> urllib.parse.SplitResult:
    """The parsed ``url``; :class:`DatasetError` unless it is https (or http if allowed)."""
    parts = urllib.parse.urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        extra = "" if allow_http else " (plain http:// only with --allow-http)"
        raise DatasetError(f"{url}: not an {' or '.join(s + '://' for s in schemes)} URL"
                           f"{extra}; refused")
    return parts


class _Deadline:
    """Shuts the connection's socket down when the overall deadline passes."""

    def __init__(self, conn: http.client.HTTPConnection, at: float) -> None:
        self.conn, self.expired = conn, False
        self.timer = threading.Timer(max(0.0, at - time.monotonic()), self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self) -> None:
        self.expired = True
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self.timer.cancel()


def _open(url: str, timeout: float, deadline: float, allow_http: bool
          ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, _Deadline]:
    for _ in range(_MAX_REDIRECTS + 1):
        parts = check_url(url, allow_http)
        host = parts.hostname or ""
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, parts.port, timeout=timeout,
                context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        guard = _Deadline(conn, deadline)
        try:
            conn.connect()
            path = parts.path or "/"
            conn.request("GET", path + (f"?{parts.query}" if parts.query else ""),
                         headers={"User-Agent": "archsim-data-fetch"})
            resp = conn.getresponse()
        except BaseException:
            guard.cancel()
            conn.close()
            if guard.expired:
                raise TimeoutError("the overall deadline passed") from None
            raise
        if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
            nxt = urllib.parse.urljoin(url, resp.getheader("Location", ""))
            guard.cancel()
            conn.close()
            if parts.scheme == "https" and nxt.startswith("http:"):
                raise DatasetError(f"{url}: redirects to plain http ({nxt}); refused")
            url = nxt
            continue
        if resp.status != 200:
            guard.cancel()
            conn.close()
            raise DatasetError(f"{url}: HTTP {resp.status} {resp.reason}")
        return conn, resp, guard
    raise DatasetError(f"{url}: more than {_MAX_REDIRECTS} redirects")


def _download(url: str, target: Path, spec: FileSpec, timeout: float,
              deadline: float | None = None, allow_http: bool = False) -> None:
    """Stream ``url`` into a temp file beside ``target``, verify, then rename into place."""
    from archsim.outputs.atomic import create_exclusive, temp_name

    deadline = time.monotonic() + DEFAULT_DEADLINE_S if deadline is None else deadline
    check_url(url, allow_http)
    tmp = temp_name(target.with_name(f".{target.name}.part"))
    fd = create_exclusive(tmp, 0o644)
    guard: _Deadline | None = None
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            try:
                conn, resp, guard = _open(url, timeout, deadline, allow_http)
                with contextlib.closing(conn), resp:
                    while True:
                        block = resp.read1(_CHUNK)
                        if guard.expired or time.monotonic() > deadline:
                            raise TimeoutError("the overall deadline passed")
                        if not block:
                            break
                        size += len(block)
                        if size > spec.size:
                            raise DatasetError(
                                f"{target}: download from {url} is larger than the official "
                                f"{spec.size} bytes; rejected"
                            )
                        digest.update(block)
                        out.write(block)
            except (http.client.HTTPException, OSError) as exc:
                if (guard is not None and guard.expired) or time.monotonic() >= deadline:
                    raise DatasetError(
                        f"{target}: download from {url} stopped at the overall deadline "
                        f"({size} of {spec.size} bytes received); try again, or raise "
                        "--deadline") from None
                raise DatasetError(f"{target}: download from {url} failed ({exc})") from exc
            finally:
                if guard is not None:
                    guard.cancel()
            out.flush()
            os.fsync(out.fileno())
        if size != spec.size:
            raise DatasetError(
                f"{target}: download from {url} has {size} bytes, the official file has "
                f"{spec.size}; rejected (truncated or wrong file)"
            )
        if digest.hexdigest() != spec.sha256:
            raise DatasetError(
                f"{target}: download from {url} has sha256 {digest.hexdigest()}, expected "
                f"{spec.sha256}; rejected (corrupted or wrong file)"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_dataset(
    name: str,
    dest_dir: str | os.PathLike[str],
    base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    log=None,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    allow_http: bool = False,
) -> list[Path]:
    """Fetch the official files of ``name`` into ``<dest_dir>/<name>/``.

    ``base_url`` replaces the registry's download location (a mirror or a local server).
    ``timeout`` bounds each socket operation, ``deadline_s`` the whole fetch; ``allow_http``
    accepts plain ``http://`` URLs. Returns the file paths. Raises :class:`DatasetError`
    naming the file on a failed or corrupted download; the files already verified stay.
    """
    spec = get_dataset(name)
    deadline = time.monotonic() + deadline_s
    for file in spec.files:  # every URL is checked before anything is written
        check_url(spec.url(file, base_url), allow_http)
    folder = Path(dest_dir).expanduser() / name
    folder.mkdir(parents=True, exist_ok=True)
    say = log or (lambda msg: None)
    paths = []
    for file in spec.files:
        target = folder / file.name
        if file_is_valid(target, file):
            say(f"{target}: present, sha256 ok")
        else:
            if target.exists():
                say(f"{target}: present but wrong size/sha256; downloading again")
            url = spec.url(file, base_url)
            say(f"{target}: downloading {url} ({file.size} bytes)")
            _download(url, target, file, timeout, deadline, allow_http)
            say(f"{target}: sha256 ok")
        paths.append(target)
    if spec.after_fetch is not None:  # e.g. CIFAR-10: the archive's batches as .npz
        paths += spec.after_fetch(folder, say)
    return paths


def fetch_main(name: str, dest: str | os.PathLike[str] | None, base_url: str | None,
               *, allow_http: bool = False, deadline_s: float = DEFAULT_DEADLINE_S,
               timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """CLI entry (``archsim data fetch NAME [--dir DIR] [--base-url URL] [--allow-http]
    [--deadline S]``); returns the exit code (2 no destination or a refused URL, 1 a failed
    download).

    ``dest`` defaults to ``$ARCHSIM_DATA``; with neither, nothing is fetched.
    """

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    root = resolve_data_dir(dest)
    if root is None:
        say(f"error: no destination: pass --dir DIR or set {DATA_ENV_VAR}")
        return 2
    spec = get_dataset(name)
    try:
        for file in spec.files:
            check_url(spec.url(file, base_url), allow_http)
    except DatasetError as exc:
        say(f"error: {exc}")
        return 2
    try:
        fetch_dataset(name, root, base_url=base_url, log=say, timeout=timeout,
                      deadline_s=deadline_s, allow_http=allow_http)
    except (DatasetError, ValueError, OSError) as exc:
        say(f"error: {exc}")
        return 1
    say(
        f"{name}: all files verified in {root / name}; use it with --data-dir {root} "
        f"or {DATA_ENV_VAR}={root}"
    )
    return 0
