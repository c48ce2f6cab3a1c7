"""The two cell constructors every lesson source uses: CELLS = [md(...), code(...), ...]."""


def md(source: str, *tags: str) -> tuple:
    """A markdown cell; `tags` become the cell's metadata tags (e.g. "summary")."""
    return ("md", source, tags)


def code(source: str, *tags: str) -> tuple:
    """A code cell; `tags` become the cell's metadata tags."""
    return ("code", source, tags)
