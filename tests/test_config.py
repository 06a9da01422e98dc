"""Settings: YAML + ${VAR} interpolation, validation with locations, masked secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_settings, parse_duration, parse_settings
from connector.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(text)
    return path


def test_defaults_need_no_file_content(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={})
    assert settings.influencers_club.base_url == "https://api-dashboard.influencers.club"
    assert settings.influencers_club.requests_per_minute == 300
    assert settings.rate_limit_storage == "memory://"
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_env_interpolation_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "influencers_club:\n  api_key: ${IC_KEY}\n  base_url: ${IC_URL:-http://127.0.0.1:9}\n"
        "database_url: ${DATABASE_URL:-}\n",
    )
    settings = load_settings(path, environ={"IC_KEY": "secret-123"})
    assert settings.influencers_club.api_key is not None
    assert settings.influencers_club.api_key.get_secret_value() == "secret-123"
    assert settings.influencers_club.base_url == "http://127.0.0.1:9"
    assert settings.database_url is None


def test_missing_env_var_names_the_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "influencers_club:\n  api_key: ${IC_KEY}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert "influencers_club.api_key: environment variable IC_KEY is not set" in str(info.value)


def test_every_error_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "influencers_club:\n  requests_per_minut: 10\n  max_concurrency: 0\nlog_level: LOUD\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    problems = info.value.problems
    assert len(problems) == 3
    assert any(":2: influencers_club.requests_per_minut: unknown setting" in p for p in problems)
    assert any(":3: influencers_club.max_concurrency" in p for p in problems)
    assert any(":4: log_level" in p for p in problems)


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "influencers_club:\n  api_key: [unclosed\n")
    with pytest.raises(ConfigError, match=r"connector\.yaml:\d+:\d+: YAML syntax error"):
        load_settings(path, environ={})


def test_missing_file_explains_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"copy connector\.example\.yaml"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_secrets_are_masked_in_repr_and_dump() -> None:
    settings = parse_settings(
        {"influencers_club": {"api_key": "sk-live-1"}, "database_url": "postgres://u:pw@h/db"},
        environ={},
    )
    assert "sk-live-1" not in repr(settings)
    masked = settings.masked()
    assert masked["influencers_club"]["api_key"] == "**********"
    assert masked["database_url"] == "**********"
    assert settings.resolved_database_url == "postgresql+psycopg://u:pw@h/db"


def test_sources_are_discriminated_and_names_unique() -> None:
    with pytest.raises(ConfigError, match="used more than once"):
        parse_settings(
            {
                "sources": [
                    {"name": "a", "type": "sheets", "spreadsheet": "k"},
                    {"name": "a", "type": "hubspot", "list": "1"},
                ]
            },
            environ={},
        )


def test_unknown_source_type_is_rejected() -> None:
    with pytest.raises(ConfigError, match="sources"):
        parse_settings({"sources": [{"name": "a", "type": "airtable"}]}, environ={})


def test_batch_poll_under_30s_only_for_loopback() -> None:
    with pytest.raises(ConfigError, match="at least 30"):
        parse_settings({"pipeline": {"batch_poll_seconds": 2}}, environ={})
    settings = parse_settings(
        {
            "pipeline": {"batch_poll_seconds": 2},
            "influencers_club": {"base_url": "http://127.0.0.1:8000"},
        },
        environ={},
    )
    assert settings.pipeline.batch_poll_seconds == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(15, 15.0), ("45s", 45.0), ("15m", 900.0), ("2h", 7200.0), ("7d", 604800.0), ("250ms", 0.25)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_is_explained() -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_settings({"credits": {"check_every": "soon"}}, environ={})


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "connector.example.yaml"
    settings = load_settings(
        example,
        environ={
            "IC_API_KEY": "k",
            "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
            "ALERT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        },
    )
    assert [s.name for s in settings.sources] == ["leads", "crm"]
    assert settings.discovery.searches[0].destination == "leads"


def test_passwords_inside_urls_are_masked() -> None:
    settings = parse_settings(
        {"rate_limit_storage": "redis://:s3cretpw@127.0.0.1:6379/0"}, environ={}
    )
    assert "s3cretpw" not in str(settings.masked())
    assert settings.masked()["rate_limit_storage"] == "redis://**********@127.0.0.1:6379/0"


def test_identifying_a_sheet_by_email_needs_its_email_column() -> None:
    sheet = {"name": "a", "type": "sheets", "spreadsheet": "k", "identify_by": "handle_then_email"}
    with pytest.raises(ConfigError, match=r"sources\[0\]\.identify_by: .* set email_column"):
        parse_settings({"sources": [sheet]}, environ={})
    settings = parse_settings(
        {
            "sources": [
                {**sheet, "email_column": "Email", "mode": "raw"},
                {"name": "b", "type": "hubspot", "list": "1", "identify_by": "email"},
            ],
            "pipeline": {"mode": "auto"},
        },
        environ={},
    )
    hubspot = settings.get_source("b")
    assert hubspot.email_property == "email" and hubspot.mode is None
    assert settings.pipeline.mode == "auto"


@pytest.mark.parametrize("mode", ["analytics", "basic", "email"])
def test_only_enrichment_tiers_are_modes(mode: str) -> None:
    with pytest.raises(ConfigError, match="mode"):
        parse_settings({"pipeline": {"mode": mode}}, environ={})
