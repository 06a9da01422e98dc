"""The one retry policy: what is retried, how long is waited, when it gives up."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.enrich.retry import PaidCallRule, describe_failure, is_ambiguous
from connector.errors import (
    ProfileNotFoundError,
    RateLimitedError,
    RetryableError,
    TransientError,
)
from connector.retry import RetryPolicy, apply_verdict, call_with_retries


def failing(errors: list[Exception], answer: str = "ok") -> tuple[list[int], object]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return answer

    return calls, call


def test_retryable_errors_are_retried_until_an_answer() -> None:
    calls, call = failing([TransientError("502"), RateLimitedError("429")])
    assert call_with_retries(call, policy=RetryPolicy(attempts=3), what="t") == "ok"
    assert len(calls) == 3


def test_attempts_bound_the_retries() -> None:
    calls, call = failing([TransientError("502")] * 5)
    with pytest.raises(TransientError):
        call_with_retries(call, policy=RetryPolicy(attempts=2), what="t")
    assert len(calls) == 2


@pytest.mark.parametrize("error", [ProfileNotFoundError("no"), ValueError("bug")])
def test_other_errors_are_never_retried(error: Exception) -> None:
    calls, call = failing([error])
    with pytest.raises(type(error)):
        call_with_retries(call, policy=RetryPolicy(attempts=5), what="t")
    assert len(calls) == 1


def test_should_retry_can_refuse_a_retry() -> None:
    calls, call = failing([TransientError("maybe billed")])
    with pytest.raises(TransientError):
        call_with_retries(
            call, policy=RetryPolicy(attempts=5), what="t", should_retry=lambda e: False
        )
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(None, True), (7.0, 7.0), (500.0, 60.0), (-3.0, 0.0)]
)
def test_retry_after_is_honoured_up_to_the_cap(
    retry_after: float | None, expected: float | bool
) -> None:
    error = RateLimitedError("429", retry_after=retry_after)
    assert RetryPolicy(max_retry_after=60.0).get_wait(error) == expected


waits = st.one_of(st.booleans(), st.floats(min_value=0, max_value=1e6))


@given(waits, waits)
def test_a_verdict_never_shortens_the_wait_and_false_always_wins(
    wait: bool | float, verdict: bool | float
) -> None:
    combined = apply_verdict(wait, verdict)
    if wait is False or verdict is False:
        assert combined is False
    elif verdict is True:
        assert combined == wait
    elif wait is True:
        assert combined == verdict
    else:
        assert combined == max(wait, verdict)


def sent(status_error: RetryableError, cause: Exception) -> RetryableError:
    status_error.__cause__ = cause
    return status_error


def test_an_ambiguous_paid_call_is_sent_again_once_after_a_few_seconds() -> None:
    check = PaidCallRule(ambiguous_retries=1).build_check(lambda: 0.5)
    gateway = sent(TransientError("504"), httpx.ReadTimeout("cold"))
    assert check(gateway) == pytest.approx(4.5)
    assert check(gateway) is False


def test_a_batch_upload_that_may_have_arrived_is_never_sent_again() -> None:
    check = PaidCallRule(ambiguous_retries=0).build_check(lambda: 0.0)
    assert check(sent(TransientError("502"), httpx.ReadError("reset"))) is False


@pytest.mark.parametrize(
    "error",
    [
        RateLimitedError("429"),
        sent(TransientError("refused"), httpx.ConnectError("refused")),
        sent(TransientError("pool"), httpx.PoolTimeout("pool")),
    ],
)
def test_a_call_that_cannot_have_been_billed_is_retried_normally(error: RetryableError) -> None:
    assert not is_ambiguous(error)
    assert PaidCallRule(ambiguous_retries=0).build_check(lambda: 0.0)(error) is True


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (TransientError("502", status=502), "gateway 502"),
        (TransientError("504", status=504), "gateway 504"),
        (TransientError("500", status=500), "HTTP 500"),
        (sent(TransientError("t"), httpx.ReadTimeout("read")), "timeout"),
        (sent(TransientError("r"), httpx.ReadError("[Errno 104] reset")), "connection reset"),
        (sent(TransientError("c"), httpx.RemoteProtocolError("disconnected")), "connection reset"),
        (sent(TransientError("x"), httpx.ConnectError("refused")), "connection refused"),
        (TransientError("unknown"), "connection failed"),
    ],
)
def test_a_failure_is_named_in_a_few_words(error: RetryableError, named: str) -> None:
    assert describe_failure(error) == named
