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
it holds the holder's pid and start time, for the message, and is created
`0o666` less the umask, so a group-shared folder stays usable by the group
(a user who may read it but not write it locks it read-only, without the
pid). On a system without `fcntl` (Windows), or a file system that cannot
lock (some network and FUSE mounts: a warning is logged), there is no lock
and no clean-up.

Holding the lock, `claim` also removes what a run killed while writing
left behind (a warning names them): report files,
`.docker-inventory-….<pid>-<hex>.partial` (`reports.base.ReportWriter`
writes under that name and renames when done), and discovered lists,
`.discovered-….csv.<pid>.tmp` (`discover.write_discovered_csv`). No other
run can be writing them.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
import time
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
_LEFTOVER = re.compile(r"\.docker-inventory-.+\.\d+-[0-9a-f]{8}\.partial|\.discovered-.+\.csv\.\d+\.tmp")

log = logging.getLogger("har_inventory")

_held: dict[tuple[int, Path], int] = {}  # (thread, resolved directory) -> nesting depth
_held_guard = threading.Lock()


class OutputDirBusy(Exception):
    """Another run holds the output directory; `str()` is the readable message."""


@contextmanager
def claim(output_dir: Path) -> Iterator[list[Path]]:
    """Hold `output_dir` (which must exist) for the block; yields the leftover files removed.

    Re-entrant within one thread (a nested claim of the same folder yields
    `[]`); another thread or process is refused. Raises `OutputDirBusy` when
    the folder is held, `OSError` when the lock file cannot be opened (a
    folder this user may not write and no lock file yet, a directory or a
    symlink under its name)."""
    key = (threading.get_ident(), Path(output_dir).resolve())
    with _held_guard:
        depth = _held.get(key, 0)
        if depth:
            _held[key] = depth + 1
    if depth:
        try:
            yield []
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    if fcntl is None:  # pragma: no cover - Windows
        yield []
        return
    fd = _open(key[1] / LOCK_NAME)
    try:
        locked = _lock(fd, output_dir)
        with _held_guard:
            _held[key] = 1
        try:
            yield _remove_leftovers(key[1]) if locked else []
        finally:
            with _held_guard:
                _held.pop(key, None)
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def _open(path: Path) -> int:
    # O_NOFOLLOW: a symlink planted under the lock's name must not get its target truncated
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | nofollow, 0o666)
    except PermissionError:  # another user's lock file: a read-only descriptor locks as well
        return os.open(path, os.O_RDONLY | nofollow)


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
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"pid={os.getpid()} started={started}\n".encode()
    try:  # written over the last holder's line, then cut: never empty for a reader
        os.pwrite(fd, text, 0)
        os.ftruncate(fd, len(text))
    except OSError:
        pass  # read-only (another user's file) or a full disk: the lock holds all the same
    return True


def _busy_message(fd: int, output_dir: Path) -> str:
    holder = _holder(fd)
    if holder is None:  # the holder may not have written its line yet: look once more
        time.sleep(0.05)
        holder = _holder(fd)
    who = f" (pid {holder[0]}, started {holder[1]})" if holder else ""
    return (f"another har-inventory run{who} is using --output-dir {output_dir}; "
            "wait for it to finish, or give this run another folder")


def _holder(fd: int) -> tuple[int, str] | None:
    """(pid, started) from the lock file when that process is alive, else None."""
    try:
        parts = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        return None
    info = dict(part.partition("=")[::2] for part in parts if "=" in part)
    try:
        pid = int(info.get("pid", ""))
        if pid <= 0:
            return None
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, OverflowError):
        return None
    except PermissionError:
        pass  # alive, another user's
    return pid, info.get("started", "?")


def _remove_leftovers(directory: Path) -> list[Path]:
    removed = []
    for entry in os.scandir(directory):
        if _LEFTOVER.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except OSError:  # gone already, or not ours to delete (a shared folder): leave it
                continue
            removed.append(Path(entry.path))
    if removed:
        log.warning("removed %d unfinished file(s) left by an interrupted run in %s: %s", len(removed),
                    directory, ", ".join(p.name for p in sorted(removed)),
                    extra={"event": "leftovers_removed", "files": [p.name for p in sorted(removed)]})
    return sorted(removed)
