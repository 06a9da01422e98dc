"""Deploy files run the Procfile's commands: Dockerfile, compose.yaml, systemd units, Heroku."""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's console scripts: gunicorn, connector
APP_SERVICES = ("migrate", "web", "worker")


def read_procfile() -> dict[str, str]:
    kinds = [line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line]
    return {kind.strip(): command.strip() for kind, command in kinds}


def parse_dockerfile(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each stage as (INSTRUCTION, arguments), continuation lines joined."""
    stages: list[list[tuple[str, str]]] = [[]]
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        logical += line.rstrip().removesuffix("\\").strip() + " "
        if line.rstrip().endswith("\\"):
            continue
        instruction, _, arguments = logical.strip().partition(" ")
        logical = ""
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def read_compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def read_unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ROOT / "deploy" / name).read_text())
    return parser


DOCKERFILE = parse_dockerfile((ROOT / "Dockerfile").read_text())
RUNTIME_STAGE = DOCKERFILE[-1]


def instructions(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == name]


def test_procfile_has_release_web_and_worker() -> None:
    assert set(read_procfile()) == {"release", "web", "worker"}


def test_dockerfile_default_command_is_the_procfile_web_line() -> None:
    (cmd,) = instructions(RUNTIME_STAGE, "CMD")
    assert json.loads(cmd) == ["sh", "-c", "exec " + read_procfile()["web"]]


def test_dockerfile_installs_the_lock_in_a_builder_stage_and_runs_as_non_root() -> None:
    args = dict(arg.split("=", 1) for arg in instructions(DOCKERFILE[0], "ARG"))
    bases = [stage[0][1].split(" AS ")[0] for stage in DOCKERFILE[1:]]
    assert len(bases) >= 2
    assert {base.replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"]) for base in bases} == {
        "python:3.11-slim"
    }
    builder_runs = " ".join(instructions(DOCKERFILE[1], "RUN"))
    assert "pip install --require-hashes -r requirements.txt" in builder_runs
    assert "pip install --no-deps ." in builder_runs
    assert any(
        c.startswith("--from=builder /opt/venv") for c in instructions(RUNTIME_STAGE, "COPY")
    )
    (user,) = instructions(RUNTIME_STAGE, "USER")
    assert user.split(":")[0] not in {"root", "0"}


def test_dockerfile_healthcheck_passes_against_the_procfile_web_process(
    web_process: WebProcess,
) -> None:
    (healthcheck,) = instructions(RUNTIME_STAGE, "HEALTHCHECK")
    argv = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert argv[0] == "python"
    assert "/healthz" in argv[-1]
    env = {**os.environ, "PORT": str(web_process.port)}
    done = subprocess.run([sys.executable, *argv[1:]], env=env, timeout=10, check=False)
    assert done.returncode == 0


def test_compose_runs_the_procfile_commands() -> None:
    services = read_compose()["services"]
    procfile = read_procfile()
    assert services["migrate"]["command"] == procfile["release"]
    assert services["worker"]["command"] == procfile["worker"]
    assert "command" not in services["web"], "web runs the image's CMD, the Procfile's web line"
    assert all(services[name]["build"] == "." for name in APP_SERVICES)


def test_compose_starts_the_apps_after_healthy_stores_and_the_migration() -> None:
    services = read_compose()["services"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["restart"] == "no"
    # The image's HEALTHCHECK probes HTTP, which only the web process serves.
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_compose_apps_share_the_database_redis_and_data_volume() -> None:
    services = read_compose()["services"]
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert len({env["DATABASE_URL"] for env in environments}) == 1
    assert all(env["REDIS_URL"] == "redis://redis:6379/0" for env in environments)
    assert all("data:/app/data" in services[name]["volumes"] for name in APP_SERVICES)


def test_systemd_units_run_the_procfile_commands() -> None:
    procfile = read_procfile()
    venv = "/opt/connector/venv/bin/"
    migrate = read_unit("connector-migrate.service")["Service"]["ExecStart"]
    worker = read_unit("connector-worker.service")["Service"]["ExecStart"]
    web = read_unit("connector-web.service")["Service"]["ExecStart"]
    assert migrate == venv + procfile["release"]
    assert worker == venv + procfile["worker"]
    # Same command, bound to loopback behind the reverse proxy; systemd spells $PORT ${PORT}.
    expected = procfile["web"].replace("0.0.0.0:$PORT", "127.0.0.1:${PORT}")
    assert web == venv + expected
    for name in ("connector-web.service", "connector-worker.service"):
        unit = read_unit(name)
        assert unit["Unit"]["Requires"] == "connector-migrate.service"
        assert unit["Service"]["User"] == "connector"


def test_systemd_units_read_the_env_file_the_docs_ship() -> None:
    names = sorted(p.name for p in (ROOT / "deploy").glob("*.service"))
    assert names
    for name in names:
        service = read_unit(name)["Service"]
        assert service["EnvironmentFile"] == "/etc/connector/connector.env"
    shipped = (ROOT / "deploy" / "connector.env.example").read_text()
    assert "CONNECTOR_CONFIG=" in shipped
    assert "PORT=" in shipped


def test_heroku_hook_installs_the_project_without_dependencies() -> None:
    hook = ROOT / "bin" / "post_compile"
    assert os.access(hook, os.X_OK)
    assert "pip install --quiet --no-deps --no-cache-dir ." in hook.read_text()


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_dockerignore_keeps_secrets_out_and_what_the_dockerfile_copies_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns)
    copied = [
        source
        for stage in DOCKERFILE
        for arguments in instructions(stage, "COPY")
        if not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    ]
    assert copied
    assert [source for source in copied if _ignored(source, patterns)] == []
    for secret in (".env", "connector.yaml", ".venv/bin/python", "data/connector.db", ".git/x"):
        assert _ignored(secret, patterns), secret


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def procfile_env(tmp_path: Path) -> dict[str, str]:
    """The environment a platform gives the Procfile: a config, $PORT, the venv on PATH."""
    config = tmp_path / "connector.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    return {
        **os.environ,
        "CONNECTOR_CONFIG": str(config),
        "PORT": str(_free_port()),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # Parallel test runs would share ~/.gunicorn/gunicorn.ctl.
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    }


@dataclass
class WebProcess:
    """The Procfile's web process and the port it listens on."""

    port: int
    process: subprocess.Popen[bytes]


@pytest.fixture
def web_process(procfile_env: dict[str, str]) -> Iterator[WebProcess]:
    """The Procfile's release then web line, run through sh as platforms run them."""
    procfile = read_procfile()
    release = subprocess.run(
        ["sh", "-c", procfile["release"]],
        env=procfile_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert release.returncode == 0, release.stderr
    port = int(procfile_env["PORT"])
    process = subprocess.Popen(
        ["sh", "-c", "exec " + procfile["web"]],
        env=procfile_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, "the web process exited"
                assert time.monotonic() < deadline, "the web process never answered /healthz"
                time.sleep(0.2)
        yield WebProcess(port, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_procfile_web_stops_cleanly_within_seconds_of_sigterm(web_process: WebProcess) -> None:
    web_process.process.send_signal(signal.SIGTERM)
    assert web_process.process.wait(timeout=10) == 0
