"""YAML for quiz banks: safe loading where every mapping and sequence remembers its lines, within limits.

Every way a YAML file can go wrong becomes one `YamlProblem(line, message)`: bytes that are not UTF-8,
characters YAML refuses, syntax, nesting deeper than MAX_DEPTH, aliases that expand past MAX_VALUES
values (a "billion laughs"), keys that are lists or mappings, duplicate keys. Merge keys (`<<: *base`)
work as YAML defines them: the mapping's own keys win over merged ones.
"""
from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1 << 20  # a bank is text written by hand: 1 MiB is far above any real one
MAX_DEPTH = 40  # nesting of mappings and sequences (a bank needs 5)
MAX_VALUES = 100_000  # values after alias expansion


class YamlProblem(Exception):
    """Why a YAML text cannot be read, and on which line (1-based)."""

    def __init__(self, line: int, message: str):
        super().__init__(f"{line}: {message}")
        self.line, self.message = line, message


class LineMapping(dict):
    """A mapping that knows its line and the line of each key (`.lines[key]`)."""

    line = 0
    lines: dict


class LineSequence(list):
    """A sequence that knows its line and the line of each item (`.lines[i]`)."""

    line = 0
    lines: list


def _line(node_or_mark: Any) -> int:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return mark.line + 1 if mark is not None else 1


def _construct_mapping(loader: yaml.SafeLoader, node: MappingNode) -> LineMapping:
    own = {id(key) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)  # merged pairs come first, then the mapping's own
    out = LineMapping()
    out.line, out.lines, merged = _line(node), {}, set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            kind = "list" if isinstance(key, list) else "mapping" if isinstance(key, dict) else type(key).__name__
            raise YamlProblem(_line(key_node), f"a key must be text or a number, not a {kind} "
                                               "(a '? ' complex key): write it as plain text") from None
        if key in out and key not in merged:
            raise YamlProblem(_line(key_node), f"duplicate key {key!r} (first on line {out.lines[key]})")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = _line(key_node)
        if id(key_node) in own:
            merged.discard(key)
        else:
            merged.add(key)
    return out


def _construct_sequence(loader: yaml.SafeLoader, node: SequenceNode) -> LineSequence:
    out = LineSequence(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = _line(node), [_line(child) for child in node.value]
    return out


def _check_expansion(root: Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_VALUES values (before building anything)."""
    sizes: dict[int, int] = {}
    counting: set[int] = set()  # nodes whose count is under way: meeting one again is a loop

    def size(node: Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in counting:
            raise YamlProblem(_line(node), "an alias refers to the value that contains it (a loop): "
                                           "write the value out instead")
        counting.add(id(node))
        children = [] if isinstance(node, ScalarNode) else \
            [n for pair in node.value for n in pair] if isinstance(node, MappingNode) else node.value
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_VALUES:
                raise YamlProblem(_line(node), f"aliases expand this value to more than {MAX_VALUES:,} values "
                                               "(a 'billion laughs'): write the values out, without '*' aliases")
        sizes[id(node)] = total
        counting.discard(id(node))
        return total

    size(root)


class LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences remember the line of every key and item."""

    def construct_document(self, node: Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)


def _construct_int(loader: yaml.SafeLoader, node: ScalarNode) -> int:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # Python refuses to read ints of more than 4300 digits
        raise YamlProblem(_line(node), f"the number has {len(node.value):,} digits: no answer needs so many") from None


LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
LineLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)

_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
         yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _check_depth(text: str) -> None:
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):  # the scanner is a loop, not a recursion
        depth += isinstance(token, _OPEN) - isinstance(token, _CLOSE)
        if depth > MAX_DEPTH:
            raise YamlProblem(_line(token), f"nested more than {MAX_DEPTH} levels deep: a bank needs about 5")


def load_with_lines(data: bytes | str) -> Any:
    """Parse one YAML document (bytes must be UTF-8); every problem is a YamlProblem with its line."""
    if len(data) > MAX_BYTES:
        raise YamlProblem(1, f"{len(data):,} bytes is more than a bank can have ({MAX_BYTES:,})")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlProblem(data[:exc.start].count(b"\n") + 1,
                              f"byte 0x{data[exc.start]:02x} is not UTF-8 text: save the file as UTF-8") from None
    try:
        _check_depth(data)
        return yaml.load(data, Loader=LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = ", ".join(p for p in (exc.context, exc.problem) if p)
        raise YamlProblem(_line(mark), f"YAML syntax error: {what}") from None
    except yaml.reader.ReaderError as exc:
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise YamlProblem(data[:exc.position].count("\n") + 1,
                          f"character #x{code:04x} is not allowed in YAML: remove it") from None
    except yaml.YAMLError as exc:  # any other error of the YAML library: still one line
        raise YamlProblem(1, f"YAML error: {str(exc).splitlines()[0]}") from None
