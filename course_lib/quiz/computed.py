"""What a bank names instead of code: a registered function and its literal arguments (`answer_from`,
`check`), validated against the function's signature when the bank is read."""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Computed:
    """A registered function and its literal arguments: `registry[fn](**args)`."""

    fn: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """`fn(name=value, ...)`, as the review shows it."""
        return f"{self.fn}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})"


MAX_ARG = 10**6  # an int argument of a computed answer or a check: the course's numbers are far smaller
MAX_ANSWER_CHARS = 10_000  # a computed answer, written out, is at most this long


def is_number(v: Any) -> bool:
    """An int or float, not a bool (YAML's `yes` is a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_finite_number(v: Any, limit: float = 1e15) -> bool:
    """A number that is not NaN or infinite and whose size is at most `limit`."""
    return is_number(v) and abs(v) <= limit and math.isfinite(v)  # NaN fails the comparison


def _arg_problem(value: Any) -> str | None:
    """Why `value` cannot be an argument of a computed answer or check (None: it can)."""
    if isinstance(value, list):
        if len(value) > 64:
            return f"a list of {len(value)} items (at most 64)"
        return next((p for p in map(_arg_problem, value) if p), None)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return None if len(value) <= 200 else f"text of {len(value)} characters (at most 200)"
    if isinstance(value, int):
        return None if abs(value) <= MAX_ARG else f"{value} (at most {MAX_ARG:,} in size)"
    if isinstance(value, float):
        return None if math.isfinite(value) and abs(value) <= MAX_ARG else f"{value!r} (a finite number is needed)"
    return f"a {type(value).__name__} (use numbers, text, true/false or lists of them)"


def call_bounded(fn: Callable[..., Any], args: Mapping[str, Any]) -> Any:
    """`fn(**args)`, computed on the meta device when it only needs shapes (no memory spent on huge sizes);
    an answer longer than MAX_ANSWER_CHARS written out raises ValueError."""
    import torch

    try:
        with torch.device("meta"):  # shapes and parameter counts without allocating any tensor
            value = fn(**args)
    except Exception:  # noqa: BLE001 - it needs real numbers: compute it for real (arguments are bounded)
        value = fn(**args)
    try:
        size = len(repr(value))
    except ValueError:  # an int with more digits than Python writes out
        size = MAX_ANSWER_CHARS + 1
    if size > MAX_ANSWER_CHARS:
        raise ValueError(f"the computed answer is {size:,} characters long (at most {MAX_ANSWER_CHARS:,})")
    return value


def parse_computed(value: Any, registry: dict[str, Callable], what: str, err: Callable[[int, str], None],
                   line: int, skip: tuple[str, ...] = ()) -> Computed | None:
    """Read `{fn: NAME, args: {...}}` (or just NAME): the function must be in `registry` and accept the
    arguments (its first parameters `skip` are supplied at check time). Problems go to `err(line, msg)`."""
    if isinstance(value, str):
        value = {"fn": value}
    if not isinstance(value, dict) or set(value) - {"fn", "args"} or "fn" not in value:
        err(line, f"{what} must be a mapping {{fn: NAME, args: {{...}}}}")
        return None
    name, args = value["fn"], value.get("args") or {}
    if not isinstance(name, str) or name not in registry:
        err(line, f"{what}: unknown function {name!r}; valid: {', '.join(sorted(registry))}")
        return None
    if not isinstance(args, dict):
        err(getattr(value, "lines", {}).get("args", line), f"{what}: args must be a mapping")
        return None
    for key, arg in args.items():
        problem = _arg_problem(arg)
        if problem:
            err(getattr(args, "lines", {}).get(key, line), f"{what}: argument {key!r} is {problem}")
            return None
    params = list(inspect.signature(registry[name]).parameters.values())[len(skip):]
    try:
        inspect.Signature(params).bind(**args)
    except TypeError as exc:
        expected = ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params)
        err(getattr(value, "lines", {}).get("args", line), f"{what}: {exc} for {name}({expected})")
        return None
    return Computed(name, {k: (tuple(v) if isinstance(v, list) else v) for k, v in dict(args).items()})
