"""The output directory's claim: one run at a time, and the leftovers of a killed one.

Two runs writing to one output directory at once (cron starting the next
run while the last still works through a long input) would share the
journal and send twice the pace to the same rate limit. `claim` takes an
exclusive lock on `<output-dir>/.har-inventory.lock` before the first
request and holds it to the last report; a second run is refused at once
(`OutputDirBusy`, exit 2 on the command line) with the holder's process id.
The lock is `flock(2)`: the operating system drops it when its process
ends, however it ends (SIGKILL, reboot), so no stale lock is ever left to
clear by hand. The file itself stays (removing it would race a new run);
it holds the holder's pid and start time, for the message. On a system
without `fcntl` (Windows), or a file system that cannot lock (some network
and FUSE mounts: a warning is logged), there is no lock and no clean-up.

Holding the lock, `claim` also removes the report files a run killed
while writing left behind, `.docker-inventory-….<pid>-<hex>.partial`
(`reports.base.ReportWriter` writes under that name and renames when
done): no other run can be writing them.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "OutputDirBusy", "claim"]

LOCK_NAME = ".har-inventory.lock"
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}  # a file system without flock
_PARTIAL = re.compile(r"\.docker-inventory-.+\.\d+-[0-9a-f]{8}\.partial")

log = logging.getLogger("har_inventory")

_held: dict[Path, int] = {}  # resolved directory -> nesting depth, in this process
_held_guard = threading.Lock()


class OutputDirBusy(Exception):
    """Another process holds the output directory; `str()` is the readable message."""


@contextmanager
def claim(output_dir: Path) -> Iterator[list[Path]]:
    """Hold `output_dir` (which must exist) for the block; yields the stale `.partial` files removed.

    Re-entrant within one process (a nested claim of the same folder yields
    `[]`). Raises `OutputDirBusy` when another process holds it, `OSError`
    when the lock file cannot be opened (an unwritable folder, a directory
    or a symlink under its name)."""
    key = Path(output_dir).resolve()
    with _held_guard:
        depth = _held.get(key, 0)
        if depth:
            _held[key] = depth + 1
    if depth:
        try:
            yield []
        finally:
            _release_nested(key)
        return
    if fcntl is None:  # pragma: no cover - Windows
        yield []
        return
    # O_NOFOLLOW: a symlink planted under the lock's name must not get its target truncated
    fd = os.open(key / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        locked = _lock(fd, output_dir)
        with _held_guard:
            _held[key] = 1
        try:
            yield _remove_stale_partials(key) if locked else []
        finally:
            with _held_guard:
                _held.pop(key, None)
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def _lock(fd: int, output_dir: Path) -> bool:
    """Lock the open lock file and write who holds it; False (with a warning) where the file
    system cannot lock. Raises `OutputDirBusy`."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputDirBusy(_busy_message(fd, output_dir)) from None
    except OSError as exc:
        if exc.errno not in _NO_LOCKS:
            raise
        log.warning("--output-dir %s: its file system does not lock files (%s); nothing stops a second "
                    "run from using it at the same time", output_dir, exc.strerror or exc,
                    extra={"event": "no_lock"})
        return False
    os.ftruncate(fd, 0)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.pwrite(fd, f"pid={os.getpid()} started={started}\n".encode(), 0)
    return True


def _release_nested(key: Path) -> None:
    with _held_guard:
        _held[key] -= 1


def _busy_message(fd: int, output_dir: Path) -> str:
    try:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        holder = []
    info = dict(part.partition("=")[::2] for part in holder if "=" in part)
    who = f" (pid {info['pid']}, started {info.get('started', '?')})" if "pid" in info else ""
    return (f"another har-inventory run{who} is using --output-dir {output_dir}; "
            "wait for it to finish, or give this run another folder")


def _remove_stale_partials(directory: Path) -> list[Path]:
    removed = []
    for entry in os.scandir(directory):
        if _PARTIAL.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except OSError:  # gone already, or not ours to delete (a shared folder): leave it
                continue
            removed.append(Path(entry.path))
    return sorted(removed)
