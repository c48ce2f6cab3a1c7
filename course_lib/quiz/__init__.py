"""Quizzes: YAML banks, answers computed by course_lib, checks of learner code, saved progress.

    bank = quiz.load_bank("week05")                      # validated, errors name file:line
    quiz.check_answer(bank.questions[0], "(512, 7, 7)")  # -> CheckResult(correct, message, expected)
    quiz.check_code(question, globals())                 # runs the check on the learner's variable
    quiz.score(bank.questions, {"backbone-output": "512x7x7"})

    bank.py      the schema, loading, errors with file:line    answers.py  ANSWERS: computed answers (answer_from)
    checking.py  check_answer, score, validate_answers         checks.py   CODE_CHECKS: checks of learner code
    progress.py  Progress: saved answers                       widgets.py  show_quiz, review (ipywidgets;
                                                                           `from course_lib.quiz import widgets`)

`from course_lib import quiz` gives the API below (this file only re-exports it).
"""
from .answers import ANSWERS, answer_function
from .bank import KINDS, Bank, Computed, Question, QuizBankError, bank_paths, load_all_banks, load_bank, parse_bank
from .checking import (CheckResult, Score, check_answer, check_code, format_answer, parse_number, parse_shape,
                       sample_questions, score, validate_answers)
from .checks import CODE_CHECKS, code_check
from .progress import Progress, ProgressWarning

__all__ = ["ANSWERS", "CODE_CHECKS", "KINDS", "Bank", "CheckResult", "Computed", "Progress", "ProgressWarning",
           "Question", "QuizBankError", "Score", "answer_function", "bank_paths", "check_answer", "check_code",
           "code_check", "format_answer", "load_all_banks", "load_bank", "parse_bank", "parse_number", "parse_shape",
           "sample_questions", "score", "validate_answers"]
