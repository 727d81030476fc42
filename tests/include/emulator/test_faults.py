"""The fault model on its own (no service): token bucket, outage windows, seeded randomness,
"next N jobs" counters and the validation messages."""

from __future__ import annotations

import pytest

from include.emulator.faults import FaultConfigError, FaultState, parse_faults


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_outage_window_answers_503_only_inside_the_window() -> None:
    clock = Clock()
    state = FaultState(parse_faults({"outage_windows": [{"start_in": 5, "duration": 10}]}), clock=clock)
    assert state.api_fault() is None
    clock.now += 6
    fault = state.api_fault()
    assert fault is not None and fault.status == 503 and fault.retry_after == pytest.approx(9)
    clock.now += 10
    assert state.api_fault() is None


def test_token_bucket_refuses_the_burst_beyond_the_rate_and_refills() -> None:
    clock = Clock()
    state = FaultState(parse_faults({"rate_limit_per_second": 3}), clock=clock)
    answers = [state.api_fault() for _ in range(5)]
    assert [a.status if a else 200 for a in answers] == [200, 200, 200, 429, 429]
    limited = answers[3]
    assert limited is not None and limited.retry_after == pytest.approx(1 / 3)
    clock.now += 1 / 3
    assert state.api_fault() is None


def test_error_rate_is_seeded_and_close_to_its_fraction() -> None:
    def statuses(seed: int) -> list[int]:
        state = FaultState(parse_faults({"error_rate": 0.3, "seed": seed}))
        return [a.status if (a := state.api_fault()) else 200 for _ in range(400)]

    first = statuses(1)
    assert first == statuses(1), "the same seed must give the same faults"
    assert first != statuses(2)
    failed = [s for s in first if s != 200]
    assert 80 < len(failed) < 160 and set(failed) <= {500, 502, 503}


def test_next_n_job_faults_then_clean_jobs() -> None:
    state = FaultState(parse_faults({"fail_code": 1003, "fail_next": 2, "never_finish_next": 1}))
    assert [state.job_fault() for _ in range(5)] == ["never_finish", "fail:1003", "fail:1003", "", ""]
    assert state.injected == {"never_finish": 1, "fail_1003": 2}


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"error_rat": 0.1}, "error_rat"),
        ({"error_rate": 2}, "error_rate"),
        ({"fail_next": 1}, "fail_code"),
        ({"fail_code": 4242, "fail_next": 1}, "4242"),
        ({"outage_windows": [{"start_in": 1}]}, "outage_windows.0.duration"),
    ],
)
def test_bad_configurations_name_the_field(config: dict[str, object], named: str) -> None:
    with pytest.raises(FaultConfigError, match=named.replace(".", r"\.")):
        parse_faults(config)


def test_json_text_is_accepted() -> None:
    assert parse_faults('{"queue_delay_seconds": 2.5}').queue_delay_seconds == 2.5
    assert parse_faults("").queue_delay_seconds == 0
