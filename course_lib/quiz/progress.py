"""The learner's quiz progress: one JSON file per bank, written atomically under a lock, never lost to damage.

Location: $COURSE_PROGRESS_DIR, else ~/.course_progress (outside the repository, so answers are never
committed). One file per week (`week05.json`), so a damaged file costs at most that week. Every record
re-reads the file and writes it back while holding a file lock (`.week05.json.lock`, filelock), so two
writers (two kernels, a kernel and the command line) never drop each other's answers. A file that cannot
be read (not JSON, too deep, too big, a folder in its place) is reported in one line, moved aside to
`week05.json.corrupt-<time>` (kept for inspection, never deleted), and whatever entries still parse are kept.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout

from ..errors import CourseError
from ..files import atomic_write_bytes
from ..paths import progress_dir

FORMAT = "course_lib.quiz.progress/1"
LOCK_TIMEOUT_S = 30.0  # how long a writer waits for another one before giving up with a clear message
MAX_FILE_BYTES = 8 << 20  # a progress file above 8 MiB is not one the course wrote: set aside
MAX_GIVEN_CHARS = 2000  # a saved answer is cut to this many characters (JSON text)
MAX_ATTEMPTS = 10**6  # more attempts than this is a hand-edited value


class ProgressWarning(UserWarning):
    """A progress file was damaged; the message says what was kept and where the original went."""


class ProgressError(CourseError):
    """Progress cannot be saved (folder not writable, another writer holds the lock too long)."""


def _valid_entry(entry: Any) -> bool:
    if not (isinstance(entry, dict) and isinstance(entry.get("correct"), bool)):
        return False
    attempts = entry.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
        return False
    if not isinstance(entry.get("checked_at", ""), str) or len(entry.get("checked_at", "")) > 40:
        return False
    return len(json.dumps(entry.get("given"))) <= MAX_GIVEN_CHARS + 2


def _storable(given: Any) -> Any:
    """`given` as JSON can hold it (else its repr), cut to MAX_GIVEN_CHARS."""
    try:
        text = json.dumps(given, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        given = text = repr(given)
    if len(text) <= MAX_GIVEN_CHARS:
        return given
    return str(given)[:MAX_GIVEN_CHARS - 20] + "... (cut)"


class Progress:
    """Answers and verdicts per bank: `record(bank, qid, given, correct)`, `answers(bank)`."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else progress_dir()
        self.problems: list[str] = []  # every damage found, for display

    def path(self, bank: str) -> Path:
        """The file holding the answers of `bank`."""
        return self.directory / f"{bank}.json"

    def _report(self, message: str) -> None:
        self.problems.append(message)
        warnings.warn(message, ProgressWarning, stacklevel=4)

    @staticmethod
    def _move_aside(path: Path) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
        while target.exists():
            target, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
        os.replace(path, target)
        return target

    def _make_directory(self) -> None:
        """Create the progress folder; a file in its place is moved aside first."""
        d = self.directory
        if d.exists() and not d.is_dir():
            aside = self._move_aside(d)
            self._report(f"quiz progress folder {d} was a file, not a folder: it was moved to {aside.name} "
                         "and an empty progress folder was made.")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProgressError(f"cannot create the quiz progress folder ({d}: {exc.strerror or exc}): "
                                "set COURSE_PROGRESS_DIR to a folder you can write") from None

    @contextmanager
    def _locked(self, bank: str) -> Iterator[None]:
        self._make_directory()
        lock = FileLock(self.directory / f".{bank}.json.lock")
        try:
            lock.acquire(timeout=LOCK_TIMEOUT_S)
        except Timeout:
            raise ProgressError(f"quiz progress {self.path(bank)} is held by another process for over "
                                f"{LOCK_TIMEOUT_S:g} s: let that notebook or command finish, then check again"
                                ) from None
        except OSError as exc:
            raise ProgressError(f"cannot lock quiz progress ({lock.lock_file}: {exc.strerror or exc}): "
                                "set COURSE_PROGRESS_DIR to a folder you can write") from None
        try:
            yield
        finally:
            lock.release()

    def _set_aside(self, path: Path, bank: str, reason: str) -> dict:
        aside = self._move_aside(path)
        self._report(f"quiz progress {path} could not be read: {reason}. It was moved to {aside.name}; "
                     f"{bank} starts again empty, the answers of the other weeks are untouched.")
        return {}

    def _load(self, bank: str) -> dict[str, dict] | None:
        """The answers of `bank`, repairing damage (call it holding the lock); None: unreadable, left as is."""
        path = self.path(bank)
        if not os.path.lexists(path):
            return {}
        if path.is_dir() or not path.is_file():
            return self._set_aside(path, bank, "it is a folder (or a dangling link), not a file")
        if path.stat().st_size > MAX_FILE_BYTES:
            return self._set_aside(path, bank, f"it has {path.stat().st_size:,} bytes, more than a progress "
                                               f"file can have ({MAX_FILE_BYTES:,})")
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._report(f"cannot read {path} ({exc.strerror or exc}); answers of {bank} not loaded, file left "
                         "in place: fix its permissions")
            return None
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._set_aside(path, bank, f"it is not valid JSON ({exc})")
        except RecursionError:
            return self._set_aside(path, bank, "it is nested too deeply to be a progress file")
        if not (isinstance(doc, dict) and isinstance(doc.get("answers"), dict)):
            return self._set_aside(path, bank, "it is not a progress file (no 'answers' mapping)")
        good = {k: v for k, v in doc["answers"].items() if len(k) <= 200 and _valid_entry(v)}
        bad = sorted(set(doc["answers"]) - set(good))
        if bad:
            aside = self._move_aside(path)
            self._write(bank, good)
            shown = ", ".join(repr(b[:40]) for b in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            self._report(f"quiz progress {path}: dropped damaged entries [{shown}]; kept {len(good)} answers. "
                         f"The original file was moved to {aside.name}.")
        return good

    def answers(self, bank: str) -> dict[str, dict]:
        """{question id: {"given", "correct", "attempts", "checked_at"}} for `bank` (recovering damage)."""
        if not os.path.lexists(self.path(bank)) and self.directory.is_dir():
            return {}  # nothing saved yet: no need to create anything
        if not self.directory.exists():
            return {}
        try:
            with self._locked(bank):
                return self._load(bank) or {}
        except ProgressError as exc:  # reading goes on without the saved answers, and says why
            self._report(str(exc))
            return {}

    def _write(self, bank: str, answers: dict) -> None:
        doc = {"format": FORMAT, "bank": bank, "answers": answers}
        try:
            atomic_write_bytes(self.path(bank), (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
        except PermissionError as exc:
            raise ProgressError(f"cannot save quiz progress ({self.path(bank)}: {exc.strerror}): "
                                "set COURSE_PROGRESS_DIR to a folder you can write") from None

    def record(self, bank: str, qid: str, given: Any, correct: bool) -> dict:
        """Store one checked answer: re-read the file, add the answer, write it back, all under the lock."""
        with self._locked(bank):
            answers = self._load(bank)
            if answers is None:
                raise ProgressError(f"quiz progress {self.path(bank)} cannot be read, so this answer was not "
                                    "saved (saving would drop the others): fix the file's permissions")
            attempts = answers.get(qid, {}).get("attempts", 0) + 1
            entry = {"given": _storable(given), "correct": bool(correct), "attempts": min(attempts, MAX_ATTEMPTS),
                     "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            answers[qid] = entry
            self._write(bank, answers)
        return entry

    def reset(self, bank: str) -> None:
        """Forget the answers of `bank` (the file is removed)."""
        with self._locked(bank):
            self.path(bank).unlink(missing_ok=True)

    def summary(self, banks) -> list[tuple[str, int, int, int]]:
        """(bank name, correct, answered, total) for each bank."""
        rows = []
        for bank in banks:
            answers = self.answers(bank.name)
            ids = {q.id for q in bank.questions}
            rows.append((bank.name, sum(1 for k, v in answers.items() if k in ids and v["correct"]),
                         sum(1 for k in answers if k in ids), len(ids)))
        return rows
