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
