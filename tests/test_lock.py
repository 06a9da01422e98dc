"""The lock (requirements*.txt) agrees with pyproject.toml, and requirements.txt installs alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(text) for text in PROJECT["dependencies"]]
DEV = RUNTIME + [Requirement(text) for text in PROJECT["optional-dependencies"]["dev"]]
LOCKS = {"requirements.txt": RUNTIME, "requirements-dev.txt": DEV}
DIGEST_PREFIX = "# pyproject.toml requirements sha256: "
REMEDY = "run `make lock` and commit requirements.txt and requirements-dev.txt"


@dataclass(frozen=True)
class Pin:
    """One `name==version ; marker` entry of a lock file."""

    name: str
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]
    direct: bool  # a requirement of pyproject.toml rather than of another package


def parse_lock(text: str) -> list[Pin]:
    """The pins of a `uv pip compile --generate-hashes` file, with their hashes and origins."""
    entries: list[tuple[Requirement, list[str], list[str]]] = []
    for raw in text.splitlines():
        line = raw.strip().removesuffix("\\").strip()
        if not line:
            continue
        if not raw[0].isspace() and not line.startswith("#"):
            entries.append((Requirement(line), [], []))
        elif entries and line.startswith("--hash="):
            entries[-1][1].append(line.removeprefix("--hash="))
        elif entries and line.startswith("#"):
            entries[-1][2].append(line.lstrip("# ").removeprefix("via").strip())
    pins = []
    for requirement, hashes, origins in entries:
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{requirement} is not pinned exactly"
        pins.append(
            Pin(
                name=canonicalize_name(requirement.name),
                version=Version(specifier.version),
                marker=requirement.marker,
                hashes=tuple(hashes),
                direct="connector (pyproject.toml)" in origins,
            )
        )
    return pins


def requirements_digest(project: dict[str, object]) -> str:
    """What `make lock` writes in the third header line (Makefile's DEPS_DIGEST)."""
    keys = ("requires-python", "dependencies", "optional-dependencies")
    return hashlib.sha256(json.dumps([project[k] for k in keys]).encode()).hexdigest()


def read_lock(name: str) -> str:
    return (ROOT / name).read_text()


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_was_made_from_the_current_pyproject_requirements(lock: str) -> None:
    recorded = [
        line.removeprefix(DIGEST_PREFIX)
        for line in read_lock(lock).splitlines()
        if line.startswith(DIGEST_PREFIX)
    ]
    assert recorded == [requirements_digest(PROJECT)], (
        f"{lock} was made from other pyproject.toml requirements: {REMEDY}"
    )


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pyproject_requirement_is_pinned_within_its_range(lock: str) -> None:
    pins = parse_lock(read_lock(lock))
    problems = []
    for requirement in LOCKS[lock]:
        versions = [p.version for p in pins if p.name == canonicalize_name(requirement.name)]
        if not versions:
            problems.append(f"{requirement.name} is not in {lock}")
        problems += [
            f"{requirement.name}=={version} does not satisfy {requirement}"
            for version in versions
            if not requirement.specifier.contains(version, prereleases=True)
        ]
    assert problems == [], f"{problems}: {REMEDY}"


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_pins_as_direct_only_what_pyproject_requires(lock: str) -> None:
    direct = {p.name for p in parse_lock(read_lock(lock)) if p.direct}
    assert direct == {canonicalize_name(r.name) for r in LOCKS[lock]}, REMEDY


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_carries_hashes(lock: str) -> None:
    unhashed = [p.name for p in parse_lock(read_lock(lock)) if not p.hashes]
    assert unhashed == []
    assert all(h.startswith("sha256:") for p in parse_lock(read_lock(lock)) for h in p.hashes)


def test_dev_lock_pins_every_runtime_package_alike() -> None:
    def key(pin: Pin) -> tuple[str, Version, str]:
        return pin.name, pin.version, str(pin.marker)

    runtime = {key(p) for p in parse_lock(read_lock("requirements.txt"))}
    dev = {key(p) for p in parse_lock(read_lock("requirements-dev.txt"))}
    assert runtime - dev == set(), f"the two locks disagree: {REMEDY}"


def test_python_version_file_names_a_python_the_project_supports() -> None:
    pinned = (ROOT / ".python-version").read_text().strip()
    assert pinned == "3.11", "the lock is resolved for 3.11 (Makefile's --python-version)"
    assert SpecifierSet(PROJECT["requires-python"]).contains(Version(pinned))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a==1.0 \\\n    --hash=sha256:aa\n    # via connector (pyproject.toml)\n", ("a", True, 1)),
        (
            "b-c==2 ; python_version < '3.12' \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n"
            "    # via\n    #   -c requirements.txt\n    #   d\n",
            ("b-c", False, 2),
        ),
    ],
)
def test_parse_lock_reads_pins_hashes_and_origins(text: str, expected: tuple) -> None:
    (pin,) = parse_lock("# header\n" + text)
    assert (pin.name, pin.direct, len(pin.hashes)) == expected


@pytest.mark.slow
def test_fresh_virtualenv_runs_from_requirements_txt_alone(tmp_path: Path) -> None:
    """What a buildpack does: `pip install -r requirements.txt`, then `bin/post_compile`."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt", "bin/post_compile"):
        (source / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "connector", source / "connector", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(*argv: str | Path) -> str:
        done = subprocess.run(
            [str(a) for a in argv],
            cwd=source,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run(sys.executable, "-m", "venv", venv)
    pip = (venv / "bin" / "python", "-m", "pip", "--quiet")
    run(*pip, "install", "--require-hashes", "-r", "requirements.txt")
    # Heroku's buildpack hook runs `pip install --no-deps .` with the new environment's pip.
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    run(source / "bin" / "post_compile")
    run(*pip, "check")
    assert run(venv / "bin" / "connector", "--version").strip() == (
        f"connector, version {PROJECT['version']}"
    )
    run(venv / "bin" / "python", "-c", "from connector.web import create_app; create_app")
    assert run(venv / "bin" / "gunicorn", "--version").startswith("gunicorn")
