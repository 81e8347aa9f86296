"""Claim files: one process per run, so that several processes can share one plan of runs.

A claim is a small file ``<run>.claim`` holding ``host pid``, created atomically (``O_EXCL``) by the
process that trains the run and removed when the run ends. A second process that finds the claim skips
the run. A claim left behind by a process of this host that no longer exists (the process was killed)
is stale: the next process takes it over, so a resumed plan never waits for a dead run. Claims of other
hosts are respected (their processes cannot be checked from here).

``keras-hsmix compare`` claims each of its runs this way; a single training run (``keras-hsmix train``)
can use the same claim for its run folder.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> claim = Path(tempfile.mkdtemp()) / "run.claim"
    >>> claim_run(claim), claim_run(claim)
    (True, False)
    >>> release_run(claim); claim.exists()
    False
    >>> with RunClaim(claim) as claimed:
    ...     claimed, claim.exists()
    (True, True)
    >>> claim.exists()
    False
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import TracebackType


#: Name of the lock file that :class:`RunLock` keeps in a run folder while a process owns it.
LOCK_NAME = "run.lock"


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (one of another user counts as alive).

    Example:
        >>> process_alive(os.getpid())
        True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_run(path: str | os.PathLike[str]) -> bool:
    """Atomically claims the run that ``path`` names for this process; ``False`` when another process has it.

    Creates ``path`` (and its folder) holding ``"<host> <pid>"``. A claim of a dead process of this host
    is taken over; a claim being written or removed at this moment, or held by another host, is not.
    Release it with :func:`release_run` when the run ends (or use :class:`RunClaim`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            host, pid = path.read_text().split()
            stale = (host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid()
                     and not process_alive(int(pid)))
        except (OSError, ValueError):
            return False  # being written or removed right now: another process has it
        if not stale:
            return False
        path.unlink(missing_ok=True)
        return claim_run(path)
    with os.fdopen(fd, "w") as f:
        f.write(f"{socket.gethostname()} {os.getpid()}")
    return True


def release_run(path: str | os.PathLike[str]) -> None:
    """Removes a claim made by :func:`claim_run` (nothing happens when it is already gone)."""
    Path(path).unlink(missing_ok=True)


class RunClaim:
    """``with RunClaim(path) as claimed:`` claims a run for the block and releases it after (if it was claimed)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.claimed = False

    def __enter__(self) -> bool:
        self.claimed = claim_run(self.path)
        return self.claimed

    def __exit__(self, *exc: object) -> None:
        if self.claimed:
            release_run(self.path)
            self.claimed = False


def claim_owner(path: Path) -> tuple[str, int] | None:
    """``(host, pid)`` written in a claim file, or None when it is missing or unreadable."""
    try:
        host, pid = Path(path).read_text().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


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
