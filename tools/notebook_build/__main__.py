"""`python -m tools.notebook_build [--check]` (what `make notebooks` runs)."""
from __future__ import annotations

import argparse
import sys

from . import build, check
from .writer import relative


def main(argv: list[str] | None = None) -> int:
    """Build every generated notebook, or with --check only report the stale ones (exit 1 when any)."""
    parser = argparse.ArgumentParser(prog="python -m tools.notebook_build",
                                     description="lessons/ -> notebooks/, summaries/, quiz review notebooks")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = check()
        for item in stale:
            print(item, file=sys.stderr)
        if stale:
            print("run `make notebooks` (and fix the lessons named above, if any)", file=sys.stderr)
            return 1
        print("generated notebooks are up to date")
        return 0
    done, problems = build()
    for line in done:
        verb, path = line.split(" ", 1)
        print(verb, relative(path))
    for item in problems:
        print(item, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
