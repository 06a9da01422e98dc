"""The docs hold together: links and anchors resolve, make targets and deploy files exist."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text()
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", text)


def anchor_of(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", prose(path.read_text()), re.MULTILINE)
    return {anchor_of(heading) for heading in headings}


def read_procfile() -> dict[str, str]:
    kinds = [line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line]
    return {kind.strip(): command.strip() for kind, command in kinds}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(prose(doc.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        linked = (doc.parent / path_part).resolve() if path_part else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def test_every_doc_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    unlinked = [
        p.relative_to(ROOT).as_posix()
        for p in DOCS
        if p.name != "README.md" and f"]({p.relative_to(ROOT).as_posix()}" not in readme
    ]
    assert unlinked == []


def test_every_make_target_the_docs_name_exists() -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    named = {
        target
        for doc in DOCS
        for target in re.findall(r"(?:`|^)make ([a-z][\w-]*)", doc.read_text(), re.MULTILINE)
    }
    assert named, "the docs name no make target at all"
    assert named - targets == set()


def test_every_deploy_file_is_described_in_the_deploy_doc() -> None:
    shipped = sorted(p.name for p in (ROOT / "deploy").iterdir())
    assert [name for name in shipped if f"deploy/{name}" not in DEPLOY_DOC] == []


def test_deploy_doc_shows_the_procfile_commands_verbatim() -> None:
    missing = [kind for kind, command in read_procfile().items() if command not in DEPLOY_DOC]
    assert missing == []


def test_fly_example_runs_the_procfile_commands() -> None:
    (block,) = re.findall(r"^```toml\n(.*?)^```", DEPLOY_DOC, re.MULTILINE | re.DOTALL)
    fly = tomllib.loads(block)
    procfile = read_procfile()
    dockerfile = (ROOT / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (.+)$", dockerfile, re.MULTILINE)
    assert shlex.split(fly["processes"]["web"]) == json.loads(cmd)
    assert fly["processes"]["worker"] == procfile["worker"]
    assert fly["deploy"]["release_command"] == procfile["release"]
    assert fly["kill_signal"] == "SIGTERM"
    assert fly["services"][0]["processes"] == ["web"]
    assert fly["services"][0]["http_checks"][0]["path"] == "/healthz"


def test_pending_notes_mark_whole_sentences() -> None:
    marker = "<!-- pending: issue 16 code part -->"
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            if marker in line:
                assert re.match(r"[A-Z`/]", line.split(marker, 1)[1]), f"{doc.name}: {line}"


def test_changelog_has_an_unreleased_section_then_the_current_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[0][0] == "Unreleased"
    released = dict(headings[1:])
    assert re.fullmatch(r" - \d{4}-\d{2}-\d{2}", released[version])


def _ignored_by_git(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(
        fnmatch.fnmatch(path, pattern.strip("/")) or fnmatch.fnmatch(f"/{path}", pattern)
        for pattern in patterns
    )


def test_gitignore_lets_connector_yaml_be_committed_as_the_readme_says() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "Commit `connector.yaml`" in readme
    assert not _ignored_by_git("connector.yaml")
    assert _ignored_by_git(".env")
