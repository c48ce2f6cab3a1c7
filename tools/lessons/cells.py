"""The two cell constructors every lesson source uses: CELLS = [md(...), code(...), ...]."""


def md(source: str, *tags: str) -> tuple:
    """A markdown cell; `tags` become the cell's metadata tags (e.g. "summary")."""
    return ("md", source, tags)


def code(source: str, *tags: str) -> tuple:
    """A code cell; `tags` become the cell's metadata tags."""
    return ("code", source, tags)


def expected_results(fast: str, full: str) -> str:
    """The "Expected results" block that ends every lesson's first cell (measured in both modes)."""
    return f"""**Expected results - fast mode (`COURSE_FAST=1`):**
{fast}

**Expected results - full mode:**
{full}"""
