"""Alert rules: ladders, hysteresis, reminders, recovery, forecasts, events, one send per change."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.alerts.credits import CreditReport, HeldRun
from connector.alerts.engine import check_credits, get_alert_engine
from connector.alerts.rules import (
    SEVERITY,
    Observations,
    apply_ladder,
    decide,
    evaluate_rules,
    measure_batches,
    measure_work_cost,
)
from connector.config import CreditsSettings, Settings, parse_settings
from connector.sandbox.influencers_club import InfluencersClubSandbox
from connector.sandbox.receivers import SlackReceiver, WebhookReceiver
from connector.services import Services, build_services
from connector.store.models import AlertState

SECRET = "whsec_" + base64.b64encode(b"alerts-test-secret-0123456789").decode()
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Rig:
    ic: InfluencersClubSandbox
    slack: SlackReceiver
    hook: WebhookReceiver
    clock: Clock
    settings: Settings
    services: Services

    def check(self, balance: float | None = None) -> None:
        if balance is not None:
            self.ic.set_balance(balance)
        check_credits(self.services)

    def sent(self) -> list[tuple[str, str, str]]:
        """(type, rule, state) of every webhook received, in order."""
        return [(m["type"], m["rule"], m["state"]) for m in self.hook.messages()]


def build_settings(
    tmp_path: Path,
    database_url: str,
    ic: InfluencersClubSandbox,
    slack: SlackReceiver,
    hook: WebhookReceiver,
    **credits: Any,
) -> Settings:
    return parse_settings(
        {
            "data_dir": str(tmp_path),
            "database_url": database_url,
            "public_base_url": "https://connector.example.com",
            "influencers_club": {"api_key": ic.api_key, "base_url": ic.url},
            "credits": {"forecast_days": None, **credits},
            "alerts": {
                "channels": [
                    {"type": "slack", "webhook_url": slack.url, "name": "slack-ops"},
                    {"type": "webhook", "url": hook.url, "secret": SECRET, "name": "ops-hook"},
                ],
                "timeout": 5,
                "max_attempts": 2,
            },
        },
        environ={},
    )


@pytest.fixture
def receivers() -> Iterator[tuple[InfluencersClubSandbox, SlackReceiver, WebhookReceiver]]:
    with (
        InfluencersClubSandbox(balance=1000.0) as ic,
        SlackReceiver() as slack,
        WebhookReceiver(secret=SECRET) as hook,
    ):
        yield ic, slack, hook


@pytest.fixture
def make_rig(
    tmp_path: Path,
    database_url: str,
    receivers: tuple[InfluencersClubSandbox, SlackReceiver, WebhookReceiver],
) -> Iterator[Any]:
    built: list[Services] = []

    def make(**credits: Any) -> Rig:
        ic, slack, hook = receivers
        clock = Clock()
        settings = build_settings(tmp_path, database_url, ic, slack, hook, **credits)
        services = build_services(settings, clock=clock)
        built.append(services)
        return Rig(ic, slack, hook, clock, settings, services)

    yield make
    for services in built:
        services.close()


# --- The pure state machine. ------------------------------------------------------------------

LADDER = [("critical", 100.0), ("warn", 500.0)]


@pytest.mark.parametrize(
    ("previous", "balance", "expected"),
    [
        ("ok", 1000, "ok"),
        ("ok", 500, "ok"),
        ("ok", 499, "warn"),
        ("ok", 99, "critical"),
        ("warn", 520, "warn"),  # inside the 5 % band above 500
        ("warn", 525, "warn"),
        ("warn", 526, "ok"),
        ("warn", 99, "critical"),
        ("critical", 104, "critical"),  # inside the band above 100
        ("critical", 106, "warn"),
        ("critical", 520, "warn"),
        ("critical", 600, "ok"),
    ],
)
def test_ladder_fires_below_and_clears_only_past_the_hysteresis_band(
    previous: str, balance: float, expected: str
) -> None:
    checks = [(level, float(balance), below) for level, below in LADDER]
    assert apply_ladder(checks, previous, 0.05) == expected  # type: ignore[arg-type]


@given(
    value=st.floats(min_value=0, max_value=2000, allow_nan=False),
    previous=st.sampled_from(["ok", "warn", "critical"]),
    hysteresis=st.floats(min_value=0, max_value=0.5),
)
def test_ladder_is_never_milder_than_the_plain_thresholds_nor_harsher_than_the_band(
    value: float, previous: str, hysteresis: float
) -> None:
    checks = [(level, value, below) for level, below in LADDER]
    result = apply_ladder(checks, previous, hysteresis)  # type: ignore[arg-type]
    plain = apply_ladder(checks, "ok", 0.0)  # type: ignore[arg-type]
    widened = [(level, value, below * (1 + hysteresis)) for level, below in LADDER]
    banded = apply_ladder(widened, "ok", 0.0)  # type: ignore[arg-type]
    assert SEVERITY[plain] <= SEVERITY[result] <= SEVERITY[banded]
    assert SEVERITY[result] <= max(SEVERITY[plain], SEVERITY[previous])


def state(level: str, sent: datetime | None = T0) -> AlertState:
    return AlertState("low_balance", level, T0, sent, None)


@pytest.mark.parametrize(
    ("current", "target", "later", "reminder", "action", "new"),
    [
        (None, "ok", 0, None, "none", "ok"),
        (None, "warn", 0, None, "transition", "warn"),
        (state("warn"), "warn", 3600, None, "none", "warn"),
        (state("warn"), "warn", 3599, 3600, "none", "warn"),
        (state("warn"), "warn", 3600, 3600, "reminder", "warn"),
        (state("warn"), "critical", 0, 3600, "transition", "critical"),
        (state("critical"), "ok", 0, 3600, "transition", "ok"),
        (state("warn"), None, 10, None, "none", "warn"),
        (state("ok"), "ok", 99999, 60, "none", "ok"),
    ],
)
def test_decide_transitions_once_and_reminds_when_due(
    current: AlertState | None,
    target: str | None,
    later: float,
    reminder: float | None,
    action: str,
    new: str,
) -> None:
    now = T0 + timedelta(seconds=later)
    decision = decide("low_balance", current, target, now, reminder)  # type: ignore[arg-type]
    assert (decision.action, decision.state) == (action, new)


def report(**fields: Any) -> CreditReport:
    base: dict[str, Any] = {
        "balance": 1000.0,
        "used": 0.0,
        "taken_at": T0,
        "burn_rate_per_day": None,
        "runout_date": None,
        "queued_cost": 0.0,
        "held_cost": 0.0,
        "now": T0,
    }
    return CreditReport(**{**base, **fields})


@pytest.mark.parametrize(
    ("balance", "queued", "held", "previous", "expected"),
    [
        (100, 50, 0, "ok", "ok"),
        (100, 101, 0, "ok", "warn"),
        (100, 50, 60, "ok", "warn"),
        (100, 0, 101, "ok", "critical"),
        (100, 0, 98, "critical", "critical"),  # covered, but inside the band
        (100, 0, 90, "critical", "ok"),
    ],
)
def test_work_cost_compares_queued_and_held_cost_with_the_balance(
    balance: float, queued: float, held: float, previous: str, expected: str
) -> None:
    measured = measure_work_cost(
        report(balance=balance, queued_cost=queued, held_cost=held),
        CreditsSettings.model_validate({}),
        previous,
    )
    assert measured.target == expected


def test_a_paused_batch_fires_until_the_balance_covers_it() -> None:
    paused = [("batch-1", 40.0)]
    low = measure_batches(Observations(report(balance=10.0), paused_batches=paused))
    covered = measure_batches(Observations(report(balance=50.0), paused_batches=paused))
    assert (low.target, low.details["batches"][0]["batch_id"]) == ("critical", "batch-1")
    assert covered.target == "ok"


def test_forecast_stays_silent_without_enough_history() -> None:
    settings = CreditsSettings.model_validate({"forecast_days": 7, "low_balance": []})
    observed = Observations(report(balance=10.0, burn_rate_per_day=None), auth_checked=True)
    decisions = {m.rule: d for m, d in evaluate_rules(observed, settings, {}, T0)}
    assert decisions["forecast"].action == "none"
    assert "low_balance" in decisions


def test_approval_rule_names_the_command() -> None:
    held = [HeldRun("run-9", "leads", "awaiting_approval", 900.0, "over approval_over")]
    observed = Observations(report(held_runs=held))
    measured = {
        m.rule: m for m, _ in evaluate_rules(observed, CreditsSettings.model_validate({}), {}, T0)
    }
    assert measured["approval"].target == "warn"
    assert "connector approve run-9" in measured["approval"].summary


# --- Time travel on the sandboxes: messages per state change. ---------------------------------


def test_one_message_per_state_change_with_hysteresis_and_recovery(make_rig: Any) -> None:
    rig = make_rig()
    rig.check()
    assert rig.sent() == []
    rig.check(450)
    assert rig.sent() == [("alert.firing", "low_balance", "warn")]
    rig.clock.advance(minutes=15)
    rig.check(440)
    rig.check(430)
    assert len(rig.sent()) == 1
    rig.check(80)
    rig.check(104)  # hovering just above critical: inside the band, no message
    rig.check(99)
    assert rig.sent()[1:] == [("alert.firing", "low_balance", "critical")]
    rig.check(520)
    rig.check(510)
    assert rig.sent()[2:] == [("alert.firing", "low_balance", "warn")]
    rig.check(2000)
    assert rig.sent()[3:] == [("alert.resolved", "low_balance", "ok")]
    assert len(rig.slack.messages()) == len(rig.hook.messages()) == 4
    assert all(r["verified"] for r in rig.hook.requests())
    deliveries = rig.services.store.fetch_deliveries()
    assert len(deliveries) == 8
    assert {d.channel for d in deliveries} == {"slack-ops", "ops-hook"}
    assert all(d.ok for d in deliveries)


def test_reminders_repeat_a_firing_alert_at_the_interval(make_rig: Any) -> None:
    rig = make_rig(reminder_every="1h")
    rig.check(50)
    assert rig.sent() == [("alert.firing", "low_balance", "critical")]
    rig.clock.advance(minutes=59)
    rig.check()
    assert len(rig.sent()) == 1
    rig.clock.advance(minutes=1)
    rig.check()
    rig.clock.advance(minutes=10)
    rig.check()
    assert rig.sent()[1:] == [("alert.reminder", "low_balance", "critical")]
    rig.clock.advance(minutes=50)
    rig.check(1000)
    assert rig.sent()[2:] == [("alert.resolved", "low_balance", "ok")]


def test_forecast_fires_once_history_shows_the_run_out_within_the_window(make_rig: Any) -> None:
    rig = make_rig(low_balance=[], forecast_days=7, min_history="1d")
    rig.check(1000)
    rig.clock.advance(hours=12)
    rig.check(900)  # 200/day, but half a day of history is too little to say
    assert rig.sent() == []
    rig.clock.advance(hours=12)
    rig.check(800)
    assert rig.sent() == [("alert.firing", "forecast", "warn")]
    alert = rig.hook.messages()[0]
    assert alert["credits"]["burn_rate_per_day"] == pytest.approx(200.0)
    assert alert["credits"]["runout_date"].startswith("2026-11-07")
    rig.clock.advance(hours=1)
    rig.check(10_000)  # a top-up is not negative spend: the rate stays, run-out moves out
    assert rig.sent()[1:] == [("alert.resolved", "forecast", "ok")]


def test_two_workers_on_one_database_send_one_message(make_rig: Any) -> None:
    first, second = make_rig(), make_rig()
    second.clock.now = first.clock.now
    first.ic.set_balance(40)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(rig: Rig) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                check_credits(rig.services)
        except BaseException as exc:  # pragma: no cover - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert first.sent() == [("alert.firing", "low_balance", "critical")]
    assert len(first.slack.messages()) == 1


def test_an_unshared_sheet_alerts_after_the_configured_time_and_recovers(make_rig: Any) -> None:
    rig = make_rig(low_balance=[], source_failing_after="1h")
    store = rig.services.store
    store.record_source_failure("leads", "the sheet is not shared with the service account")
    rig.clock.advance(minutes=59)
    rig.check()
    assert rig.sent() == []
    rig.clock.advance(minutes=2)
    rig.check()
    assert rig.sent() == [("alert.firing", "source:leads", "warn")]
    assert "not shared" in rig.hook.messages()[0]["text"]
    store.record_source_success("leads")
    rig.check()
    assert rig.sent()[1:] == [("alert.resolved", "source:leads", "ok")]


def test_a_rejected_api_key_alerts_and_recovers_when_accepted(make_rig: Any) -> None:
    rig = make_rig(low_balance=[])
    for _ in range(2):
        rig.services.notify(
            "fatal_error", source="leads", error="401 Token is invalid", error_type="AuthError"
        )
    assert rig.sent() == [("alert.firing", "api_key", "critical")]
    rig.check()
    assert rig.sent()[1:] == [("alert.resolved", "api_key", "ok")]


def test_out_of_credits_reads_the_balance_at_once(make_rig: Any) -> None:
    rig = make_rig()
    rig.ic.set_balance(0)
    rig.services.notify(
        "fatal_error", source="leads", error="Insufficient credits", error_type="OutOfCreditsError"
    )
    assert rig.sent() == [("alert.firing", "low_balance", "critical")]
    assert rig.services.store.fetch_credit_history()[-1].available == 0


def test_work_held_event_alerts_immediately(make_rig: Any) -> None:
    rig = make_rig(low_balance=[])
    store = rig.services.store
    run_id = store.start_run("leads")
    store.hold_run(
        run_id,
        "costs 900 credits, over approval_over (500)",
        quote=900.0,
        status="awaiting_approval",
    )
    rig.services.notify("work_held", source="leads", reason="over", quote=900.0, run_id=run_id)
    assert rig.sent() == [("alert.firing", "approval", "warn")]
    payload = rig.hook.messages()[0]
    assert payload["held"][0]["run_id"] == run_id
    assert payload["dashboard_url"] == "https://connector.example.com/"


def test_failed_deliveries_are_logged_and_do_not_block_other_channels(make_rig: Any) -> None:
    rig = make_rig()
    rig.slack.fail_next("channel_is_archived")
    rig.check(50)
    assert rig.sent() == [("alert.firing", "low_balance", "critical")]
    log = {d.channel: d for d in rig.services.store.fetch_deliveries()}
    assert not log["slack-ops"].ok
    assert "channel_is_archived" in log["slack-ops"].detail
    assert log["ops-hook"].ok
    assert log["ops-hook"].payload is not None
    assert log["ops-hook"].payload["rule"] == "low_balance"


# --- ``connector alerts test``. ---------------------------------------------------------------


def test_alerts_test_command_reports_each_channel(
    tmp_path: Path, receivers: tuple[InfluencersClubSandbox, SlackReceiver, WebhookReceiver]
) -> None:
    from click.testing import CliRunner

    from connector.cli.alerts import alerts_group
    from connector.cli.context import CliContext

    ic, slack, hook = receivers
    settings = build_settings(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", ic, slack, hook)
    runner = CliRunner()
    ok = runner.invoke(alerts_group, ["test"], obj=CliContext(_settings=settings))
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines() == ["slack-ops: ok (1 attempt(s))", "ops-hook: ok (1 attempt(s))"]
    assert hook.messages()[0]["type"] == "alert.test"
    assert slack.messages()[0]["text"].startswith(":test_tube: TEST:")
    slack.fail_next("no_service")
    failed = runner.invoke(alerts_group, ["test"], obj=CliContext(_settings=settings))
    assert failed.exit_code == 1
    assert "slack-ops: FAILED: Slack answered 404 no_service" in failed.output
    assert slack.url not in failed.output


def test_alerts_test_command_needs_a_channel(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from connector.cli.alerts import alerts_group
    from connector.cli.context import CliContext

    settings = parse_settings({"data_dir": str(tmp_path)}, environ={})
    result = CliRunner().invoke(alerts_group, ["test"], obj=CliContext(_settings=settings))
    assert result.exit_code == 2
    assert "no alert channels configured" in result.output


def test_a_batch_paused_for_credits_alerts_and_resumes_after_a_top_up(tmp_path: Path) -> None:
    import time

    from connector.pipeline.batches import poll_batches
    from connector.pipeline.cycle import run_cycle
    from connector.sandbox.stack import SandboxStack
    from connector.scheduler import tick_credits

    with (
        SandboxStack(balance=100.0, ic_config={"not_found_rate": 0.0}) as stack,
        SlackReceiver() as slack,
        WebhookReceiver(secret=SECRET) as hook,
    ):
        stack.ic.configure(batch_rows_per_second=500, batch_queued_seconds=0.5)
        list_id = stack.seed_hubspot_list([f"found_paused{i}" for i in range(60)])
        settings = stack.build_settings(
            data_dir=tmp_path,
            sources=[{"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"}],
            media={"backend": "none"},
            pipeline={"batch_threshold": 50, "batch_poll_seconds": 0.2},
            credits={"low_balance": [], "forecast_days": None},
            alerts={
                "channels": [
                    {"type": "slack", "webhook_url": slack.url},
                    {"type": "webhook", "url": hook.url, "secret": SECRET},
                ]
            },
        )
        services = build_services(settings)
        try:
            assert run_cycle(services, "crm").routes["batch"] == 60
            stack.ic.set_balance(20.0)  # spent elsewhere while the batch was queued
            for _ in range(50):
                poll_batches(services)
                if hook.messages():
                    break
                time.sleep(0.1)
            assert [(m["rule"], m["state"]) for m in hook.messages()] == [
                ("batch_paused", "critical")
            ]
            assert hook.messages()[0]["details"]["batches"][0]["needed"] == 40
            stack.ic.set_balance(500.0)
            tick_credits(services)
            for _ in range(50):
                poll_batches(services)
                if not services.store.fetch_open_batches():
                    break
                time.sleep(0.1)
        finally:
            services.close()
        assert [(m["type"], m["rule"]) for m in hook.messages()] == [
            ("alert.firing", "batch_paused"),
            ("alert.resolved", "batch_paused"),
        ]
        assert len(slack.messages()) == 2
        assert stack.ic.stats()["credits_charged"] == 60.0


def test_run_finished_checks_credits_unless_the_run_was_idle(make_rig: Any) -> None:
    rig = make_rig()
    engine = get_alert_engine(rig.services)
    rig.ic.set_balance(50)
    engine("run_finished", {"source": "leads", "run_id": "r", "records": 0})
    assert rig.sent() == []
    engine("run_finished", {"source": "leads", "run_id": "r", "records": 3})
    assert rig.sent() == [("alert.firing", "low_balance", "critical")]


def test_turning_a_rule_off_resolves_it(make_rig: Any) -> None:
    rig = make_rig()
    rig.check(50)
    off = make_rig(low_balance=[])
    off.clock.now = rig.clock.now
    off.check()
    assert rig.sent() == [
        ("alert.firing", "low_balance", "critical"),
        ("alert.resolved", "low_balance", "ok"),
    ]
