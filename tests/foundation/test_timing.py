"""The one benchmark timer: median of repeats after warm-up."""
import pytest

import workbench.timing as timing
from workbench.timing import median_seconds


def test_median_seconds_is_the_median(monkeypatch):
    clock = iter([0.0, 5.0, 10.0, 11.0, 20.0, 24.0])  # timed calls take 5, 1 and 4 s: median 4 (mean 3.3, min 1)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    calls = []
    s = median_seconds(lambda: calls.append(1), "cpu", repeats=3, warmup=1)
    assert len(calls) == 4 and s == 4.0
    with pytest.raises(ValueError):
        median_seconds(lambda: None, "cpu", repeats=0, warmup=0)


def test_warmup_seconds_adds_untimed_calls_until_that_long(monkeypatch):
    ticks = iter(range(1000))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(ticks)))  # every clock read is 1 s later
    calls = []
    median_seconds(lambda: calls.append(1), "cpu", repeats=2, warmup=1, warmup_seconds=3.0)
    assert len(calls) == 1 + 2 + 2  # 1 counted warm-up; clock reads 1, 2 (< 0 + 3): 2 more untimed; 2 timed


def test_cheap_calls_repeat_until_min_seconds(monkeypatch):
    ticks = iter(range(1000))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(ticks)))  # every call "takes" 1 s
    calls = []
    median_seconds(lambda: calls.append(1), "cpu", repeats=2, warmup=0, min_seconds=5.0)
    assert len(calls) == 5


def test_cheap_calls_stop_at_max_repeats(monkeypatch):
    ticks = iter(range(1000))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(ticks)))
    calls = []
    median_seconds(lambda: calls.append(1), "cpu", repeats=2, warmup=0, min_seconds=1e9, max_repeats=7)
    assert len(calls) == 7


def test_time_interleaved_skips_the_warm_up_round_and_takes_medians(monkeypatch):
    """Each run's first call is its warm-up (99 s, not counted); its timed calls take 5, 1 and 4 s: median 4."""
    monkeypatch.setattr(timing, "median_seconds", lambda fn, device, repeats, warmup: fn())
    a, b = iter([99.0, 5.0, 1.0, 4.0]), iter([99.0, 2.0, 2.0, 8.0])
    assert timing.time_interleaved([lambda: next(a), lambda: next(b)], "cpu", repeats=3, warmup=1) == [4.0, 2.0]
