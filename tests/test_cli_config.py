"""``connector config check``: what would fail at run time, with a fix for each; exit 1; --json."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from connector.cli.config_cmd import config_group
from connector.cli.context import CliContext
from connector.config import parse_settings
from connector.config.runtime import check_runtime_settings, check_webhook_secret

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
ENV = {
    "IC_API_KEY": "ic-key",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
    "ALERT_WEBHOOK_SECRET": SECRET,
}
FIVE_ERRORS = """\
kind: sheets
fields:
  - target: Followers
    source: instagram.followers
    transform: [no_such_transform]
  - target: Name
    policy: sometimes
    source: instagram.full_name
  - target: Email
    source: instagram.email
    when_missing: explode
  - source: instagram.username
  - target: Bio
    source: instagram.biography
    image_formula: Followers
"""


def good_config(tmp_path: Path) -> dict[str, Any]:
    key = tmp_path / "sa.json"
    key.write_text(json.dumps({"type": "service_account", "client_email": "c@p.iam"}))
    return {
        "data_dir": str(tmp_path / "data"),
        "public_base_url": "https://connector.acme.io",
        "influencers_club": {"api_key": "ic-key"},
        "google": {"service_account_file": str(key)},
        "hubspot": {"access_token": "pat-token"},
        "sources": [
            {
                "name": "leads",
                "type": "sheets",
                "spreadsheet": "1AbCdEfGhIjK",
                "platform": "tiktok",
            },
            {"name": "crm", "type": "hubspot", "list": "42"},
        ],
        "alerts": {
            "channels": [{"type": "webhook", "url": "https://hooks.acme.io/c", "secret": SECRET}]
        },
    }


def check(
    tmp_path: Path, data: dict[str, Any] | str, *args: str, env: dict[str, str] | None = None
) -> Result:
    path = tmp_path / "connector.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return CliRunner(env=env).invoke(
        config_group, ["check", *args], obj=CliContext(config_path=str(path))
    )


def problems(result: Result) -> dict[str, dict[str, str]]:
    report = json.loads(result.stdout)
    return {p["path"]: p for p in report["problems"]}


def test_a_good_config_is_ok(tmp_path: Path) -> None:
    result = check(tmp_path, good_config(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip().endswith("config ok")
    assert "pat-token" not in result.stdout and "**********" in result.stdout


@pytest.mark.parametrize("env", [{}, ENV], ids=["variables unset", "variables set"])
def test_the_example_config_fails_naming_its_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name in ("IC_API_KEY", "SLACK_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "connector.example.yaml").read_text(encoding="utf-8")
    result = check(tmp_path, text)
    # Unset variables stop the file from loading (exit 2, as for every command); the run-time
    # problems are listed all the same.
    assert result.exit_code == (1 if env else 2)
    assert "sources[0].spreadsheet: still holds the placeholder 'YOUR_SHEET_KEY'" in result.stderr
    assert "https://example.com/hooks/credits' points at example.com" in result.stderr
    as_json = check(tmp_path, text, "--json")
    assert as_json.exit_code == result.exit_code
    assert "YOUR_SHEET_KEY" in problems(as_json)["sources[0].spreadsheet"]["message"]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda c: c.pop("google"), "sources[0]", "needs Google credentials"),
        (lambda c: c.pop("hubspot"), "sources[1]", "needs hubspot.access_token"),
        (lambda c: c.pop("influencers_club"), "influencers_club.api_key", "no influencers.club"),
        (
            lambda c: c["alerts"]["channels"][0].update(url="ftp//nope"),
            "alerts.channels[0].url",
            "'ftp//nope' is not an http(s) URL",
        ),
        (
            lambda c: c["alerts"]["channels"][0].update(secret="plain-shared-secret"),
            "alerts.channels[0].secret",
            "not in whsec_<base64> form",
        ),
        (
            lambda c: c["google"].update(service_account_file="/nonexistent/sa.json"),
            "google.service_account_file",
            "cannot read",
        ),
        (
            lambda c: c["sources"][0].update(spreadsheet="https://docs.google.com/nothing-here"),
            "sources[0].spreadsheet",
            "no spreadsheet key",
        ),
        (
            lambda c: c.update(media={"backend": "s3"}),
            "media.s3.bucket",
            "no bucket is named",
        ),
        (
            lambda c: c.pop("public_base_url"),
            "sources[0].mapping",
            "rehosts pictures, which needs a public URL",
        ),
        (
            lambda c: c["sources"][1].update(mapping="mappings/sheets_default.yaml"),
            "sources[1].mapping",
            "is a sheets mapping but source 'crm' is a hubspot source",
        ),
    ],
)
def test_each_run_time_problem_is_an_error_with_a_fix(
    tmp_path: Path, change: Any, path: str, message: str
) -> None:
    config = good_config(tmp_path)
    change(config)
    result = check(tmp_path, config, "--json")
    assert result.exit_code == 1, result.stdout
    found = problems(result)
    assert path in found, found
    assert message in found[path]["message"]
    assert found[path]["level"] == "error" and found[path]["fix"]
    human = check(tmp_path, config)
    assert human.exit_code == 1
    assert f"error: {path}: " in human.stderr and "  fix: " in human.stderr


def test_every_mapping_error_is_listed(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(FIVE_ERRORS, encoding="utf-8")
    config = good_config(tmp_path)
    config["sources"][0]["mapping"] = str(tmp_path / "bad.yaml")
    result = check(tmp_path, config, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    mapping = [p for p in report["problems"] if p["path"] == "sources[0].mapping"]
    assert len(mapping) == 5, mapping
    assert all(str(tmp_path / "bad.yaml") in p["message"] for p in mapping)


def test_json_is_alone_on_stdout_and_holds_masked_settings(tmp_path: Path) -> None:
    config = good_config(tmp_path)
    config["database_url"] = "postgresql://app:hunter2@db.acme.io/app"
    result = check(tmp_path, config, "--json")
    report = json.loads(result.stdout)
    assert report["settings"]["media"]["backend"] == "auto (database)"
    assert "hunter2" not in result.stdout
    assert report["errors"] == 0 and report["ok"] is True


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        (
            {"database_url": "postgresql://app@db.acme.io/app", "media": {"backend": "local"}},
            "media.backend",
        ),
        (
            {"rate_limit_storage": "redis://cache:6379/0", "media": {"backend": "local"}},
            "media.backend",
        ),
        ({"database_url": "postgresql://app@db.acme.io/app"}, "rate_limit_storage"),
    ],
)
def test_setups_that_need_one_machine_are_warnings(
    tmp_path: Path, overrides: dict[str, Any], path: str
) -> None:
    result = check(tmp_path, {**good_config(tmp_path), **overrides}, "--json")
    assert result.exit_code == 0
    found = problems(result)
    assert found[path]["level"] == "warning"
    human = check(tmp_path, {**good_config(tmp_path), **overrides})
    assert human.exit_code == 0 and "config ok, with warnings" in human.stderr


def test_a_file_that_does_not_load_is_reported_in_json_too(tmp_path: Path) -> None:
    result = check(tmp_path, {"sources": [{"name": "x", "type": "sheets"}]}, "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["settings"] is None and report["ok"] is False
    assert "sources[0].spreadsheet" in {p["path"] for p in report["problems"]}


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (SECRET, None),
        ("", "empty"),
        ("s3cret", "not in whsec_<base64> form"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "only 5 bytes"),
    ],
)
def test_webhook_secrets_must_be_standard_webhooks_keys(secret: str, problem: str | None) -> None:
    found = check_webhook_secret(secret)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"hubspot": {"access_token": "<your token>"}}, "hubspot.access_token"),
        ({"public_base_url": "https://your-app.herokuapp.com"}, "public_base_url"),
        ({"influencers_club": {"api_key": "changeme"}}, "influencers_club.api_key"),
    ],
)
def test_placeholders_are_found_in_any_setting(data: dict[str, Any], path: str) -> None:
    findings = check_runtime_settings(parse_settings(data, environ={}))
    assert path in {f.path for f in findings if "placeholder" in f.message}
    secret_finding = next(f for f in findings if f.path == path and "placeholder" in f.message)
    assert "<your token>" not in secret_finding.message


def test_unknown_payload_keys_in_a_mapping_are_warnings(tmp_path: Path) -> None:
    (tmp_path / "typo.yaml").write_text(
        "kind: sheets\nfields:\n  - target: Followers\n    source: instagram.folower_count\n",
        encoding="utf-8",
    )
    config = good_config(tmp_path)
    config["sources"][0]["mapping"] = str(tmp_path / "typo.yaml")
    result = check(tmp_path, config, "--json")
    assert result.exit_code == 0, result.stdout
    found = problems(result)["sources[0].mapping"]
    assert found["level"] == "warning" and "folower_count" in found["message"]
