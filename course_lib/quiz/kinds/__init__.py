"""The question kinds, one registered class per module: `KINDS[name]` parses, checks, formats and shows
a question of that kind. A new kind is one module with one `@register_kind` class (see base.py)."""
# The order of registration is the order in which error messages list the kinds.
# isort: off
from . import single, multiple, numeric, shape, code  # noqa: F401 - importing a module registers its kind
# isort: on
from .base import KINDS, CheckResult, ChoiceKind, QuestionKind, register_kind

__all__ = ["KINDS", "CheckResult", "ChoiceKind", "QuestionKind", "register_kind"]
