"""The timing decision rule (weeks 6-7): medians with their spread, and a sentence that follows the numbers."""
from __future__ import annotations

import re
import time

import pytest

from course_lib.repeated_timing import Timing, compare_speed, comparison_lines, measure, ranges_overlap, run_for


def test_overlapping_spreads_say_no_clear_difference_never_faster():
    a = Timing("2 processes", (1.00, 1.30, 1.10), work=1000)  # 769-1000 images/s
    b = Timing("1 process", (1.25, 1.05, 1.40), work=1000)  # 714-952 images/s: overlaps a
    assert ranges_overlap(a, b) and ranges_overlap(b, a)
    for text in (compare_speed(a, b), compare_speed(b, a)):
        assert "no clear difference" in text
        assert "faster" not in text and "slower" not in text
    assert "769-1,000" in compare_speed(a, b)  # the ranges it read are printed


def test_separated_spreads_give_the_ratio_of_the_medians():
    fast = Timing("1 process x 2 threads", (1.0, 1.1, 1.05), work=3000)  # median 1.05 s -> 2857/s
    slow = Timing("1 process x 1 thread", (2.0, 2.2, 2.1), work=3000)  # median 2.1 s -> 1429/s
    assert not ranges_overlap(fast, slow)
    text = compare_speed(fast, slow)
    ratio = float(re.search(r"is (\d+\.\d+) times faster", text).group(1))
    assert ratio == pytest.approx(fast.rate / slow.rate, abs=0.05) and ratio == 2.0
    assert "times slower" in compare_speed(slow, fast) and "2.0" in compare_speed(slow, fast)
    close = Timing("b", (1.00, 1.01), work=100)
    assert "1.05 times faster" in compare_speed(close, Timing("a", (1.05, 1.06), work=100))  # small ratios: 2 decimals


def test_short_repeats_are_flagged_and_the_description_carries_the_spread():
    t = Timing("gap_fc", (0.4, 0.5, 0.45), work=900)
    assert "caution" in compare_speed(t, Timing("flatten_fc", (2.0, 2.1, 2.2), work=900))
    assert "caution" not in compare_speed(Timing("x", (1.2, 1.3), 10), Timing("y", (1.0, 1.1), 10))
    assert t.describe() == "2,000 images/s (median of 3 repeats of 0.4-0.5 s; range 1,800-2,250)"
    per_repeat = Timing("varying", (1.0, 2.0, 1.0), work=(100, 300, 120))  # work counted per repeat
    assert per_repeat.rates == (100, 150, 120) and per_repeat.rate == 120 and per_repeat.rate_range == (100, 150)
    with pytest.raises(ValueError):
        Timing("empty", ())
    with pytest.raises(ValueError):
        Timing("mismatch", (1.0, 2.0), work=(1.0,))


def test_measure_repeats_interleaved_and_each_repeat_lasts_long_enough():
    order = []

    def quick():
        order.append("q")
        time.sleep(0.01)

    def slow():
        order.append("s")
        time.sleep(0.04)

    calls, seconds = run_for(quick, min_seconds=0.05)
    assert seconds >= 0.05 and 1 <= calls <= 5
    timings = measure({"quick": quick, "slow": slow}, work_per_call=1, repeats=3, min_seconds=0.1, unit="calls")
    assert [t.label for t in timings] == ["quick", "slow"] and all(len(t.seconds) == 3 for t in timings)
    assert all(s >= 0.1 for t in timings for s in t.seconds)
    # sleep(0.04) per call can never be faster per call than sleep(0.01) plus scheduling noise
    assert timings[0].rate > timings[1].rate
    assert comparison_lines(timings, baseline=1)[0].startswith("quick")
    with pytest.raises(ValueError):
        measure({"x": quick}, repeats=0)
