"""Errors the course raises on bad input, each saying what was wrong and what to do."""
from __future__ import annotations

from typing import Iterable


class CourseError(Exception):
    """Base class: something the learner can fix (the message says how)."""


class DataError(CourseError):
    """A data set is missing, corrupted or in the wrong format."""


class ConfigError(CourseError, ValueError):
    """A training setting (TrainConfig field, flag or environment variable) is out of its allowed range."""


class UnknownNameError(CourseError, KeyError):
    """A name (dataset, head, backbone...) is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0])


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown `kind` called `name`, listing the valid names."""
    return UnknownNameError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}")
