"""Running a learner's code inside a check: a time limit, captured and capped output, a capped message,
and nothing that escapes (an exception, `sys.exit()`) except Ctrl-C / the kernel's Interrupt.

The time limit interrupts Python code (SIGALRM in the main thread, a trace function elsewhere); one long
call into C (a huge matrix product) ends only when it returns.
"""
from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

TIME_LIMIT_S = 20.0  # a check of learner code gives up after this long
MAX_OUTPUT_CHARS = 2000  # what the learner's code prints during a check is kept up to this many characters
MAX_MESSAGE_CHARS = 500  # a verdict's message is cut to this many characters


class CheckTimeout(BaseException):
    """Raised into learner code that runs past the time limit (a BaseException: `except Exception` misses it)."""


@dataclass
class Outcome:
    """What running the learner's code gave: its value, or the error it ended with, and what it printed."""

    value: Any = None
    error: str = ""  # "" = it returned normally
    output: str = ""


def cap(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with a note saying how many were left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters not shown)"


def _safe_str(exc: BaseException) -> str:
    try:
        return cap(str(exc), MAX_MESSAGE_CHARS)
    except Exception:  # noqa: BLE001 - a learner's exception whose __str__ itself fails
        return "(its message could not be written out)"


class _CappedOutput(io.TextIOBase):
    """A text stream that keeps the first MAX_OUTPUT_CHARS characters and counts the rest."""

    def __init__(self) -> None:
        self.kept, self.dropped = [], 0
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        room = MAX_OUTPUT_CHARS - self.size
        self.kept.append(text[:max(room, 0)])
        self.size += min(len(text), max(room, 0))
        self.dropped += max(len(text) - max(room, 0), 0)
        return len(text)

    def text(self) -> str:
        out = "".join(self.kept)
        return out + (f"... ({self.dropped:,} more characters not shown)" if self.dropped else "")


class _Deadline:
    """Raise CheckTimeout in this thread once `seconds` have passed (and every 0.1 s after, if swallowed)."""

    def __init__(self, seconds: float):
        self.seconds, self.active, self.old = seconds, False, None
        self.main = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")

    def _alarm(self, signum, frame) -> None:
        if self.active:
            raise CheckTimeout

    def _trace(self, frame, event, arg):
        if self.active and time.monotonic() > self.end:
            raise CheckTimeout
        return self._trace

    def arm(self) -> None:
        self.active, self.end = True, time.monotonic() + self.seconds
        if self.main:
            self.old = signal.signal(signal.SIGALRM, self._alarm)
            self.old_timer = signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.1)  # someone else's alarm?
        else:
            self.old = sys.gettrace()
            sys.settrace(self._trace)

    def disarm(self) -> None:
        """Idempotent: called again if an alarm interrupted the first call."""
        if not self.active:
            return
        self.active = False
        if self.main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
            delay, interval = self.old_timer
            if delay:  # put back the alarm that was set before (e.g. pytest-timeout's), minus the time spent
                spent = time.monotonic() - (self.end - self.seconds)
                signal.setitimer(signal.ITIMER_REAL, max(delay - spent, 0.001), interval)
        else:
            sys.settrace(self.old)


def run_limited(fn: Callable[..., Any], *args: Any, time_limit: float | None = None, **kwargs: Any) -> Outcome:
    """`fn(*args, **kwargs)` with a time limit, its printing captured; errors and sys.exit() reported."""
    seconds = TIME_LIMIT_S if time_limit is None else time_limit
    deadline, out = _Deadline(seconds), _CappedOutput()
    outcome = Outcome()
    try:
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                deadline.arm()
                outcome.value = fn(*args, **kwargs)
        finally:
            deadline.disarm()
    except CheckTimeout:
        deadline.disarm()
        outcome.error = f"did not finish within {seconds:g} s (an endless loop?)"
    except SystemExit as exc:
        outcome.error = f"called sys.exit({exc.code!r}): a checked function must return a value, not exit"
    except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything: report it
        outcome.error = f"raised {type(exc).__name__}: {_safe_str(exc)}"
    outcome.output = out.text()
    return outcome
