"""deploy/Dockerfile: hadolint-clean, multi-stage, non-root; its commands run from the built wheel.

No Docker engine is available here, so the image is not built. Instead the build stage's COPY list
is turned into a wheel, installed into a fresh virtual environment, and the image's ENTRYPOINT,
CMD, ENV and HEALTHCHECK are run from there as the container would run them.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dockerfile_parse import DockerfileParser

from deploy_support import DEPLOY
from support import ROOT, free_port

DOCKERFILE = DEPLOY / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


@dataclass
class Stage:
    name: str
    instructions: list[dict[str, Any]]

    def values(self, instruction: str) -> list[str]:
        return [i["value"] for i in self.instructions if i["instruction"] == instruction]


def stages() -> list[Stage]:
    found: list[Stage] = []
    for instruction in DockerfileParser(str(DOCKERFILE)).structure:
        if instruction["instruction"] == "FROM":
            found.append(Stage(instruction["value"].split(" AS ")[-1], []))
        elif found:
            found[-1].instructions.append(instruction)
    return found


def exec_form(value: str) -> list[str]:
    parsed: list[str] = json.loads(value)
    return parsed


def runtime_env() -> dict[str, str]:
    """The final stage's ENV, with earlier ones applied as Docker does."""
    envs: dict[str, str] = DockerfileParser(str(DOCKERFILE)).envs
    return envs


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "style", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_hadolint_would_catch_a_root_image(tmp_path: Path) -> None:
    """The lint above can fail: a final stage running as root is reported (DL3002)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text().replace("USER 10001:10001", "USER root"))
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "DL3002" in {finding["code"] for finding in json.loads(result.stdout)}


def test_final_stage_is_slim_non_root_and_checks_healthz() -> None:
    build, runtime = stages()
    assert (build.name, runtime.name) == ("build", "runtime")
    assert DockerfileParser(str(DOCKERFILE)).baseimage.endswith("-slim-bookworm")
    assert runtime.values("USER") == ["10001:10001"]
    # nothing is installed in the final stage: it only adds a user and copies the built environment
    assert all("install" not in run for run in runtime.values("RUN"))
    assert runtime.values("COPY") == ["--from=build /opt/driftline /opt/driftline"]
    (healthcheck,) = runtime.values("HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert exec_form(runtime.values("ENTRYPOINT")[0]) == ["driftline"]
    assert exec_form(runtime.values("CMD")[0]) == ["serve"]
    assert runtime_env()["DRIFTLINE_HOST"] == "0.0.0.0"  # reachable from outside the container


def test_build_stage_copies_every_package_and_the_context_lets_them_through() -> None:
    build, _ = stages()
    copied = {source for value in build.values("COPY") for source in value.split()[:-1]}
    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"])
    assert {package.rstrip("*") for package in packages} | {"pyproject.toml", "README.md"} == copied
    allowed = {
        line[1:].rstrip("/") for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if line.startswith("!")
    }
    assert copied <= allowed


def healthcheck_command(python: Path) -> list[str]:
    (value,) = stages()[-1].values("HEALTHCHECK")
    command = exec_form(value[value.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    return [str(python), *command[1:]]


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel built from exactly what the build stage copies.

    Dependencies come from the test environment through a .pth file, so nothing is downloaded;
    Driftline itself is imported from the wheel only.
    """
    base = tmp_path_factory.mktemp("image")
    source = base / "src"
    source.mkdir()
    for value in stages()[0].values("COPY"):
        *sources, _ = value.split()
        for name in sources:
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, source / name)
    wheels = base / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True, timeout=300)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    (wheel,) = wheels.glob("driftline-*.whl")
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True, timeout=300)
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # as in the image
    query = "import site; print(site.getsitepackages()[0])"
    venv_site = Path(subprocess.check_output([str(python), "-c", query], env=clean, text=True).strip())
    (venv_site / "_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    origin = subprocess.check_output(
        [str(python), "-c", "import monitor; print(monitor.__file__)"], cwd=base, env=clean, text=True
    )
    assert origin.startswith(str(venv_site)), origin
    return venv


@contextmanager
def container(venv: Path, workdir: Path, **env: str) -> Iterator[tuple[str, dict[str, str]]]:
    """``ENTRYPOINT`` + ``CMD`` with the image's ``ENV`` (bound to loopback, data under ``workdir``)."""
    _, runtime = stages()
    port = free_port()
    image_env = {key: value for key, value in runtime_env().items() if key.startswith(("DRIFTLINE_", "PYTHON"))}
    environment = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        **image_env,
        "DRIFTLINE_HOST": "127.0.0.1",  # the image binds 0.0.0.0; tests stay on loopback
        "DRIFTLINE_PORT": str(port),
        "DRIFTLINE_DB_URL": image_env["DRIFTLINE_DB_URL"].replace("/var/lib/driftline", str(workdir)),
        **env,
    }
    assert environment["DRIFTLINE_DB_URL"].startswith(f"sqlite:///{workdir}")
    command = exec_form(runtime.values("ENTRYPOINT")[0]) + exec_form(runtime.values("CMD")[0])
    process = subprocess.Popen([str(venv / "bin" / command[0]), *command[1:]], env=environment, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"{command} exited with {process.returncode}"
            try:
                httpx.get(f"{url}/metrics", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not start within 60 s"
                time.sleep(0.1)
        yield url, environment
    finally:
        process.terminate()
        process.wait(timeout=30)


def healthcheck(venv: Path, environment: Mapping[str, str]) -> int:
    command = healthcheck_command(venv / "bin" / "python")
    return subprocess.run(command, env=dict(environment), capture_output=True, timeout=30, check=False).returncode


def test_image_command_serves_and_passes_its_healthcheck(image_venv: Path, tmp_path: Path) -> None:
    """One server start (they take seconds here): healthy with the read token, unhealthy without."""
    with container(image_venv, tmp_path, DRIFTLINE_READ_TOKEN="read-secret") as (url, environment):
        assert healthcheck(image_venv, environment) == 0
        auth = {"Authorization": "Bearer read-secret"}
        assert httpx.get(f"{url}/readyz", headers=auth, timeout=5).json()["ready"] is True
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 401
        assert healthcheck(image_venv, {k: v for k, v in environment.items() if k != "DRIFTLINE_READ_TOKEN"}) != 0
    assert (tmp_path / "driftline.db").exists()  # the SQLite file lands in the image's data volume


def test_agent_command_is_in_the_image(image_venv: Path) -> None:
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [str(image_venv / "bin" / "driftline"), "agent", "gpu", "--help"]
    result = subprocess.run(command, env=clean, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "--interval" in result.stdout
