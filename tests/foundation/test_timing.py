"""The one benchmark timer: median of repeats after warm-up."""
import pytest

import workbench.timing as timing
from workbench.timing import median_seconds


def test_median_seconds_is_the_median(monkeypatch):
    clock = iter([0.0, 5.0, 10.0, 11.0, 20.0, 23.0])  # timed calls take 5, 1 and 3 s: median 3
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    calls = []
    s = median_seconds(lambda: calls.append(1), "cpu", repeats=3, warmup=1)
    assert len(calls) == 4 and s == 3.0
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
