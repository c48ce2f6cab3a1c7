"""Quizzes: YAML banks, one registered class per question kind, answers computed by course_lib, saved progress.

    bank = quiz.load_bank("week05")                      # validated, errors name file:line
    quiz.check_answer(bank.questions[0], "(512, 7, 7)")  # -> CheckResult(correct, message, expected)
    quiz.check_code(question, globals())                 # runs the check on the learner's variable
    quiz.score(bank.questions, {"backbone-output": "512x7x7"})

    bank.py      the schema, loading, errors with file:line    kinds/     KINDS: one class per kind
    answers.py   ANSWERS: computed answers (answer_from)       checks.py  CODE_CHECKS: checks of learner code
    answers_models.py  the computed answers about backbones and heads (weeks 3-6)
    checking.py  check_answer, score, validate_answers         progress.py  Progress: saved answers
    widgets.py   show_quiz, review (ipywidgets; import it by name: `from course_lib.quiz import widgets`)

`from course_lib import quiz` gives the API below (this file only re-exports it).
"""
from . import answers_models  # noqa: F401  (registers the backbone and head answers in ANSWERS)
from .answers import ANSWERS, answer_function
from .bank import Bank, Question, QuizBankError, bank_paths, load_all_banks, load_bank, parse_bank
from .checking import Score, check_answer, format_answer, sample_questions, score, validate_answers
from .checks import CODE_CHECKS, code_check
from .computed import Computed
from .kinds import KINDS, CheckResult, QuestionKind, register_kind
from .kinds.code import check_code
from .kinds.numeric import parse_number
from .kinds.shape import parse_shape
from .progress import Progress, ProgressError, ProgressWarning

__all__ = ["ANSWERS", "CODE_CHECKS", "KINDS", "Bank", "CheckResult", "Computed", "Progress", "ProgressError",
           "ProgressWarning",
           "Question", "QuestionKind", "QuizBankError", "Score", "answer_function", "bank_paths", "check_answer",
           "check_code", "code_check", "format_answer", "load_all_banks", "load_bank", "parse_bank",
           "parse_number", "parse_shape", "register_kind", "sample_questions", "score", "validate_answers"]
