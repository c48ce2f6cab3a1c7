"""What a bank names instead of code: a registered function and its literal arguments (`answer_from`,
`check`), validated against the function's signature when the bank is read."""
from __future__ import annotations

import inspect
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


def is_number(v: Any) -> bool:
    """An int or float, not a bool (YAML's `yes` is a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
    if name not in registry:
        err(line, f"{what}: unknown function {name!r}; valid: {', '.join(sorted(registry))}")
        return None
    if not isinstance(args, dict):
        err(getattr(value, "lines", {}).get("args", line), f"{what}: args must be a mapping")
        return None
    params = list(inspect.signature(registry[name]).parameters.values())[len(skip):]
    try:
        inspect.Signature(params).bind(**args)
    except TypeError as exc:
        expected = ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params)
        err(getattr(value, "lines", {}).get("args", line), f"{what}: {exc} for {name}({expected})")
        return None
    return Computed(name, {k: (tuple(v) if isinstance(v, list) else v) for k, v in dict(args).items()})
