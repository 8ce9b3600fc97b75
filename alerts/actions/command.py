"""Run a command as an argv list: no shell, a timeout, and only allow-listed environment variables.

Each argument is a template over the alert (``{{ labels.model }}``), rendered
separately and passed to the program as one argument, so alert values can never
be parsed as shell syntax. The child gets only the variables named in ``env``
(default ``PATH``) from Driftline's environment, so secrets held there reach a
command only when the config says so. On timeout the whole process group is
killed and the run counts as retryable; a non-zero exit is final.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from alerts._render import Template, TemplateStr
from alerts._spec import Spec, parse_spec
from alerts.model import Alert, Result

__all__ = ["CommandAction", "CommandSpec", "run_argv"]

_TAIL = 300  # characters of output kept in Result.detail


def _tail(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    return text if len(text) <= _TAIL else "…" + text[-_TAIL:]


def run_argv(argv: Sequence[str], *, env: Mapping[str, str], timeout_s: float, cwd: str | None = None) -> Result:
    """Run ``argv`` without a shell and classify the outcome.

    Exit 0 is ok; another exit code is final; a timeout (the process group is
    killed) and a start failure other than "not found" are retryable.

    >>> run_argv(["true"], env={"PATH": os.defpath}, timeout_s=5).ok
    True
    >>> r = run_argv(["sh", "-c", "echo nope >&2; exit 3"], env={"PATH": os.defpath}, timeout_s=5)
    >>> r.ok, r.retryable, r.detail
    (False, False, 'exit 3: nope')
    >>> run_argv(["sleep", "5"], env={"PATH": os.defpath}, timeout_s=0.1).detail
    'timed out after 0.1 s (process group killed)'
    """
    try:
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills its children too
        )
    except FileNotFoundError:
        return Result(ok=False, retryable=False, detail=f"{argv[0]!r} not found")
    except OSError as exc:
        return Result(ok=False, retryable=True, detail=f"could not start {argv[0]!r}: {exc.strerror}")
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return Result(ok=False, retryable=True, detail=f"timed out after {timeout_s:g} s (process group killed)")
    if process.returncode == 0:
        out = _tail(stdout)
        return Result(ok=True, detail=f"exit 0: {out}" if out else "exit 0")
    err = _tail(stderr) or _tail(stdout)
    return Result(ok=False, retryable=False, detail=f"exit {process.returncode}: {err}" if err else f"exit {process.returncode}")


class CommandSpec(Spec):
    """``policies.<name>.action`` for ``type: command``."""

    argv: list[TemplateStr] = Field(min_length=1, description="Program and arguments; each a template over the alert.")
    timeout_seconds: float = Field(30.0, gt=0, le=3600)
    env: list[str] = Field(["PATH"], description="Names of Driftline's environment variables passed to the command.")
    cwd: str | None = None


class CommandAction:
    """Runs one program per alert; ``dry_run`` only says what would run."""

    def __init__(self, name: str, spec: CommandSpec) -> None:
        self.name = name
        self.argv = [Template(part) for part in spec.argv]
        self.timeout_s = spec.timeout_seconds
        self.env_names = list(spec.env)
        self.cwd = spec.cwd

    @staticmethod
    def from_spec(name: str, spec: Mapping[str, Any]) -> CommandAction:
        parsed = parse_spec(CommandSpec, spec, f"policies.{name}.action")
        if not parsed.argv[0].strip():
            raise ValueError(f"policies.{name}.action.argv.0: the program must not be empty")
        return CommandAction(name, parsed)

    def run(self, alert: Alert, *, dry_run: bool = False) -> Result:
        try:
            argv = [part.render(alert) for part in self.argv]
        except Exception as exc:  # an undefined label, say: the policy cannot run for this alert
            return Result(ok=False, retryable=False, detail=f"template error: {exc}")
        if dry_run:
            return Result(ok=True, detail=f"dry run: would run {shlex.join(argv)}")
        env = {key: os.environ[key] for key in self.env_names if key in os.environ}
        return run_argv(argv, env=env, timeout_s=self.timeout_s, cwd=self.cwd)
