"""Command line: `python -m course_lib data fetch mnist`, `python -m course_lib train --dataset mnist`,
`python -m course_lib quiz validate`, `python -m course_lib project new|check [DIR]` (build your own classifier)."""
from __future__ import annotations

import sys
import warnings

from .config import FlagParser, add_config_arguments
from .data import DATASETS
from .data import state as data_state
from .data.checks import check_root
from .errors import CourseError
from .paths import data_root


def _data(args) -> int:
    from .data import provision

    if args.action == "list":
        check_root(data_root(args.root))
        for name, spec in DATASETS.items():
            state, why = data_state(name, args.root)  # a file there but wrong: "corrupted", not "missing"
            print(f"{name:<14} {str(spec.input_shape):<14} {spec.num_classes:>4} classes  {state}"
                  + (f" ({why}; `data fetch {name}` repairs what it can)" if why else ""))
        return 0
    names = list(DATASETS) if args.name == "all" else [args.name]
    for name in names:
        try:
            print(provision.fetch(name, args.root, try_download=False if args.offline else None))
        except CourseError as exc:
            if not args.optional:
                raise
            print(f"note: {exc}")  # optional data: say what is missing and how to get it, then go on
    return 0


def _train(args) -> int:
    from .training import config_from_args, run_training

    run_training(config_from_args(args))  # flags not given: the data set's recipe
    return 0


def _quiz(args) -> int:
    from . import quiz
    from .quiz.widgets import progress_markdown, review_markdown

    banks = [quiz.load_bank(name) for name in args.banks] if args.banks else quiz.load_all_banks()
    if args.action == "validate":
        problems = [p for bank in banks for p in quiz.validate_answers(bank)]
        for bank in banks:
            print(f"{bank.name}: {len(bank.questions)} questions")
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if args.action == "review":
        for bank in banks:
            print(f"# Week {bank.week}: {bank.title}\n\n{review_markdown(bank)}\n")
        return 0
    progress = quiz.Progress()
    with warnings.catch_warnings():  # damage is printed below as one line each, not as a Python warning
        warnings.simplefilter("ignore", quiz.ProgressWarning)
        print(progress_markdown(progress, banks))
    for problem in progress.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def _project(args) -> int:
    from . import project

    if args.action == "new":
        path = project.new_project(args.dir)
        where = f" {args.dir}" if args.dir else ""
        print(f"wrote {', '.join(project.FILES)} into {path}\n"
              f"next: write data.py, then run `python -m course_lib project check{where}`")
        return 0
    report = project.check_project(args.dir, datasets=args.dataset, root=args.root)
    print(report)
    return 0 if report.passed else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the sub-command; a CourseError is one line on stderr and exit status 2."""
    parser = FlagParser(prog="python -m course_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="provision and list datasets")
    data.add_argument("action", choices=["fetch", "list"])
    data.add_argument("name", nargs="?", default="all", help=f"{', '.join(DATASETS)} or all")
    data.add_argument("--root", default=None, help=f"data folder (default: {data_root()})")
    data.add_argument("--offline", action="store_true",
                      help="use only what is on this machine: no downloads (also $COURSE_OFFLINE=1)")
    data.add_argument("--optional", action="store_true",
                      help="a data set that cannot be provisioned is a note, not an error (exit status 0)")
    data.set_defaults(func=_data)

    train = sub.add_parser("train", help="train a model; every TrainConfig field is a flag")
    add_config_arguments(train)
    train.set_defaults(func=_train)

    quiz = sub.add_parser("quiz", help="quiz banks: validate them, print the review, show saved progress")
    quiz.add_argument("action", choices=["validate", "review", "progress"])
    quiz.add_argument("banks", nargs="*", help="bank names (week01 ...) or paths; default: all")
    quiz.set_defaults(func=_quiz)

    project = sub.add_parser("project", help="build your own classifier: `project new [DIR]` copies the template "
                             "(data.py, model.py, utils.py, train.py), `project check [DIR]` says what is left")
    project.add_argument("action", choices=["new", "check"])
    project.add_argument("dir", nargs="?", default=None, help="the project folder (default: exercises/my_classifier)")
    project.add_argument("--dataset", action="append", choices=list(DATASETS),
                         help="check on this data set only (repeatable; default: every data set present)")
    project.add_argument("--root", default=None, help=f"data folder (default: {data_root()})")
    project.set_defaults(func=_project)

    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
