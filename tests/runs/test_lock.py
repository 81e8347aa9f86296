"""Run claims (keras_hsmix.runs.lock): one process per run, stale claims of dead processes taken over."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from keras_hsmix.runs.lock import RunClaim, claim_run, process_alive, release_run


def test_a_claim_is_held_until_released(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "run.claim"
    assert claim_run(path) and not claim_run(path)
    assert path.read_text() == f"{socket.gethostname()} {os.getpid()}"
    release_run(path)
    assert not path.exists() and claim_run(path)
    release_run(path)
    release_run(path)  # releasing twice is harmless


def test_claims_of_live_processes_and_other_hosts_are_respected_and_dead_ones_taken_over(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        live, stale, other = tmp_path / "live.claim", tmp_path / "stale.claim", tmp_path / "other.claim"
        live.write_text(f"{socket.gethostname()} {sleeper.pid}")
        stale.write_text(f"{socket.gethostname()} {dead.pid}")
        other.write_text(f"another-host-{socket.gethostname()} {dead.pid}")
        assert process_alive(sleeper.pid) and not process_alive(dead.pid)
        assert not claim_run(live) and not claim_run(other)
        assert claim_run(stale) and stale.read_text().endswith(f" {os.getpid()}")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_run_claim_context_releases_only_its_own_claim(tmp_path: Path) -> None:
    path = tmp_path / "run.claim"
    with RunClaim(path) as claimed:
        assert claimed and path.exists()
        with RunClaim(path) as second:
            assert not second
        assert path.exists()  # the second did not release the first's claim
    assert not path.exists()
