"""Timings a learner can trust: several repeats of about a second or more each, the median with its
spread (min-max), and the sentence that interprets them computed from the numbers.

    timings = measure({"gap_fc": step_a, "flatten_fc": step_b}, work_per_call=128, repeats=5)
    print(timings[0].describe())               # 2,345 images/s (median of 5 repeats of 1.1 s; range ...)
    print(compare_speed(timings[1], timings[0]))  # "no clear difference ..." or "... 1.4 times faster ..."

The decision rule: two setups differ only when their ranges of speed do not overlap; then the ratio of
the medians says how much faster one is. Overlapping ranges give "no clear difference", never "faster".
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

MIN_SECONDS = 1.0  # a repeat shorter than this is dominated by noise on a shared machine


@dataclass(frozen=True)
class Timing:
    """The wall time of each repeat of one setup, and how much work (images, steps) each repeat did."""

    label: str
    seconds: tuple[float, ...]  # one entry per repeat
    work: float | tuple[float, ...] = 1.0  # units of work per repeat (one number, or one per repeat)
    unit: str = "images"

    def __post_init__(self) -> None:
        if not self.seconds or min(self.seconds) <= 0:
            raise ValueError(f"{self.label}: need at least one positive duration, got {self.seconds}")
        if isinstance(self.work, tuple) and len(self.work) != len(self.seconds):
            raise ValueError(f"{self.label}: {len(self.work)} amounts of work for {len(self.seconds)} repeats")

    @property
    def rates(self) -> tuple[float, ...]:
        """Work per second of each repeat."""
        work = self.work if isinstance(self.work, tuple) else (self.work,) * len(self.seconds)
        return tuple(w / s for w, s in zip(work, self.seconds))

    @property
    def rate(self) -> float:
        """The median speed over the repeats (work per second)."""
        return statistics.median(self.rates)

    @property
    def rate_range(self) -> tuple[float, float]:
        """(slowest, fastest) work per second over the repeats: the spread."""
        return min(self.rates), max(self.rates)

    @property
    def shortest_s(self) -> float:
        return min(self.seconds)

    def describe(self) -> str:
        """'2,345 images/s (median of 5 repeats of 1.1-1.3 s; range 2,100-2,400)'."""
        low, high = self.rate_range
        n = len(self.seconds)
        return (f"{_num(self.rate)} {self.unit}/s (median of {n} repeat{'s' if n > 1 else ''} of "
                f"{min(self.seconds):.1f}-{max(self.seconds):.1f} s; range {_num(low)}-{_num(high)})")


def ranges_overlap(a: Timing, b: Timing) -> bool:
    """True when the min-max ranges of speed of `a` and `b` share any value."""
    a_low, a_high = a.rate_range
    b_low, b_high = b.rate_range
    return a_low <= b_high and b_low <= a_high


def compare_speed(a: Timing, b: Timing, min_seconds: float = MIN_SECONDS) -> str:
    """The sentence comparing `a` with `b`: 'no clear difference' when their ranges overlap, else
    'a is x.x times faster/slower than b' (ratio of the medians); warns about repeats under `min_seconds`."""
    if ranges_overlap(a, b):
        text = (f"{a.label} vs {b.label}: no clear difference (the ranges of {len(a.seconds)} and "
                f"{len(b.seconds)} repeats overlap: {_range(a)} vs {_range(b)} {a.unit}/s)")
    else:
        ratio = a.rate / b.rate
        word, factor = ("faster", ratio) if ratio > 1 else ("slower", 1 / ratio)
        text = (f"{a.label} is {_ratio(factor)} times {word} than {b.label} (medians {_num(a.rate)} vs "
                f"{_num(b.rate)} {a.unit}/s; the ranges do not overlap)")
    short = [t.label for t in (a, b) if t.shortest_s < min_seconds]
    if short:
        text += (f"; caution: some repeats of {' and '.join(short)} lasted under {min_seconds:g} s, "
                 "too short to be stable")
    return text


def run_for(fn: Callable[[], Any], min_seconds: float = MIN_SECONDS) -> tuple[int, float]:
    """Call `fn` until at least `min_seconds` have passed: (calls, seconds)."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return calls, elapsed


def measure(setups: Mapping[str, Callable[[], Any]], work_per_call: float | Mapping[str, float] = 1.0,
            repeats: int = 5, min_seconds: float = MIN_SECONDS, unit: str = "images") -> list[Timing]:
    """Time every setup `repeats` times, interleaved (setup 1, 2, ..., then again, starting one setup later
    each round so that no setup always goes first), so they share the machine's noise. A repeat calls its
    function until `min_seconds` have passed (after one untimed warm-up call per setup)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    per_call = work_per_call if isinstance(work_per_call, Mapping) else {n: work_per_call for n in setups}
    for fn in setups.values():
        fn()  # warm-up: first calls allocate memory and pick kernels
    seconds: dict[str, list[float]] = {name: [] for name in setups}
    work: dict[str, list[float]] = {name: [] for name in setups}
    names = list(setups)
    for k in range(repeats):
        for name in names[k % len(names):] + names[:k % len(names)]:
            calls, elapsed = run_for(setups[name], min_seconds)
            seconds[name].append(elapsed)
            work[name].append(calls * per_call[name])
    return [Timing(name, tuple(seconds[name]), tuple(work[name]), unit) for name in setups]


def comparison_lines(timings: Sequence[Timing], baseline: int = 0) -> list[str]:
    """One `compare_speed` sentence per timing against `timings[baseline]`."""
    base = timings[baseline]
    return [compare_speed(t, base) for i, t in enumerate(timings) if i != baseline]


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _range(t: Timing) -> str:
    low, high = t.rate_range
    return f"{_num(low)}-{_num(high)}"


def _ratio(factor: float) -> str:
    return f"{factor:.1f}" if factor >= 1.1 else f"{factor:.2f}"
