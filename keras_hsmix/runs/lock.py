"""One process at a time per run folder: ``claim_run`` (a host+pid claim file) and ``RunLock`` around it.

The claim file is created with ``O_EXCL``, so of two processes that race for it exactly one wins. A claim
left by a process of this host that no longer exists (killed) is stale and taken over; claims of other
hosts are respected, since their processes cannot be checked from here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import TracebackType

#: Name of the lock file that :class:`RunLock` keeps in a run folder while a process owns it.
LOCK_NAME = "run.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_owner(path: Path) -> tuple[str, int] | None:
    """``(host, pid)`` written in a claim file, or None when it is missing or unreadable."""
    try:
        host, pid = Path(path).read_text().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


def claim_run(path: Path) -> bool:
    """Atomically claims one run for this process; False when another live process holds the claim.

    The claim file holds ``host pid``; it is created with ``O_EXCL`` and removed when the run ends.
    A claim left by a process of this host that no longer exists (the run was killed) is taken
    over, so a resumed run never waits for a dead one. Claims of other hosts are respected.

    Example:
        >>> import tempfile
        >>> claim = Path(tempfile.mkdtemp()) / "run.claim"
        >>> claim_run(claim), claim_run(claim)
        (True, False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            host, pid = path.read_text().split()
            stale = host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)) and int(pid) != os.getpid()
        except (OSError, ValueError):
            return False  # being written or removed right now: another process has it
        if not stale:
            return False
        path.unlink(missing_ok=True)
        return claim_run(path)
    with os.fdopen(fd, "w") as f:
        f.write(f"{socket.gethostname()} {os.getpid()}")
    return True


class RunFolderInUseError(ValueError):
    """Another live process owns the run folder (its host and pid are in the message)."""


class RunLock:
    """Owns a run folder for the duration of a ``with`` block (lock file ``run.lock``: host and pid).

    Raises :class:`RunFolderInUseError` naming the other owner when a live process holds the folder;
    a lock left by a dead process of this host is taken over. The folder is created if needed (only
    create the lock once every check that could refuse the run has passed).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp()) / "run"
        >>> with RunLock(folder):
        ...     (folder / LOCK_NAME).exists()
        True
        >>> (folder / LOCK_NAME).exists()
        False
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.held = False

    def acquire(self) -> "RunLock":
        if not claim_run(self.path):
            owner = claim_owner(self.path)
            who = f"process {owner[1]} on host {owner[0]!r}" if owner else "another process"
            raise RunFolderInUseError(
                f"run folder '{self.folder}' is in use by {who} (lock file {self.path}); wait for it to finish "
                "or choose another --out. If that process is gone (on another host, or the folder is on a "
                "shared disk), delete the lock file."
            )
        self.held = True
        return self

    def release(self) -> None:
        if self.held and claim_owner(self.path) == (socket.gethostname(), os.getpid()):
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
