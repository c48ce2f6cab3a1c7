"""The learner's quiz progress: one JSON file per bank, written atomically, never lost to corruption.

Location: $COURSE_PROGRESS_DIR, else ~/.course_progress (outside the repository, so answers are never
committed). One file per week (`week05.json`), so a damaged file costs at most that week. Every record
re-reads the file first, so two notebooks (a week's review and the cumulative one) do not overwrite each
other's answers. A file that cannot be read is reported, moved aside to `week05.json.corrupt-<time>`
(kept for inspection), and whatever entries still parse are kept.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes
from ..paths import progress_dir

FORMAT = "course_lib.quiz.progress/1"


class ProgressWarning(UserWarning):
    """A progress file was damaged; the message says what was kept and where the original went."""


def _valid_entry(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("correct"), bool)
            and isinstance(entry.get("attempts", 1), int))


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
        warnings.warn(message, ProgressWarning, stacklevel=3)

    def _move_aside(self, path: Path) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
        while target.exists():
            target, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
        os.replace(path, target)
        return target

    def answers(self, bank: str) -> dict[str, dict]:
        """{question id: {"given", "correct", "attempts", "checked_at"}} for `bank` (recovering damage)."""
        path = self.path(bank)
        if not path.exists():
            return {}
        try:
            doc = json.loads(path.read_bytes().decode("utf-8"))
            reason = None if isinstance(doc, dict) and isinstance(doc.get("answers"), dict) else \
                "it is not a progress file (no 'answers' mapping)"
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            doc, reason = None, f"it is not valid JSON ({exc})"
        except OSError as exc:
            self._report(f"cannot read {path} ({exc}); answers of {bank} not loaded, file left in place")
            return {}
        if reason:
            aside = self._move_aside(path)
            self._report(f"quiz progress {path} could not be read: {reason}. It was moved to {aside.name}; "
                         f"{bank} starts again empty, the answers of the other weeks are untouched.")
            return {}
        good = {k: v for k, v in doc["answers"].items() if _valid_entry(v)}
        bad = sorted(set(doc["answers"]) - set(good))
        if bad:
            aside = self._move_aside(path)
            self._write(bank, good)
            self._report(f"quiz progress {path}: dropped damaged entries {bad}; kept {len(good)} answers. "
                         f"The original file was moved to {aside.name}.")
        return good

    def _write(self, bank: str, answers: dict) -> None:
        doc = {"format": FORMAT, "bank": bank, "answers": answers}
        atomic_write_bytes(self.path(bank), (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())

    def record(self, bank: str, qid: str, given: Any, correct: bool) -> dict:
        """Store one checked answer (re-reading the file first); returns the new entry."""
        answers = self.answers(bank)
        attempts = answers.get(qid, {}).get("attempts", 0) + 1
        try:
            json.dumps(given)
        except TypeError:
            given = repr(given)
        entry = {"given": given, "correct": bool(correct), "attempts": attempts,
                 "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        answers[qid] = entry
        self._write(bank, answers)
        return entry

    def reset(self, bank: str) -> None:
        """Forget the answers of `bank` (the file is removed)."""
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
