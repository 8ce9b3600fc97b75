"""Peer libraries that cannot share Driftline's environment, each in a virtualenv of its own.

Evidently 0.7 does not import with pandas 3 and does not declare the limit, so it
runs in ``bench/.peers/evidently`` with ``pandas<3``. The environment is created
on first use (about a minute) and reused afterwards; code runs there as a child
process that reads its inputs from files and prints one JSON object.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

__all__ = ["PEERS", "PeerUnavailable", "run_in_peer"]

PEERS_DIR = Path(__file__).resolve().parent / ".peers"

#: peer name -> pip requirements of its environment
PEERS: dict[str, list[str]] = {
    "evidently": ["evidently==0.7.23", "pandas<3", "pyarrow"],
}


class PeerUnavailable(RuntimeError):
    """The peer's environment could not be created (no network, a failed install)."""


def _python(name: str) -> Path:
    home = PEERS_DIR / name
    python = home / "bin" / "python"
    stamp = home / ".installed"
    wanted = "\n".join(PEERS[name])
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"creating the {name} peer environment in {home} (first run only)...", file=sys.stderr, flush=True)
    venv.create(home, with_pip=True, clear=True)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEERS[name]],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise PeerUnavailable(f"installing {name} failed: {result.stderr.strip().splitlines()[-1:]}")
    stamp.write_text(wanted)
    return python


def run_in_peer(name: str, script: str, *args: str, timeout: float = 1800) -> dict[str, Any]:
    """Run ``script`` (Python source) with the peer's interpreter; it must print one JSON object last."""
    python = _python(name)
    result = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise PeerUnavailable(f"{name} run failed: {result.stderr.strip()[-2000:]}")
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document
