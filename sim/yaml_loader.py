"""The one YAML loader of alignsim: scenario files, sweep files, ``--set`` and ``--grid`` values.

YAML is a user's input, so it is read with limits, and every refusal is a `UserError` that names the file and
the line: a file larger than `MAX_BYTES` or that is not UTF-8 text; nesting deeper than `MAX_DEPTH`; aliases
that expand to more than `MAX_VALUES` values (a "billion laughs" file is refused while it is composed, before
anything is built from it) or that refer to themselves; a mapping that names the same key twice (plain YAML
lets the last one win silently). Only the safe tags are allowed (`yaml.SafeLoader`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.errors import UserError

MAX_BYTES = 512 * 1024
MAX_DEPTH = 64
MAX_VALUES = 1_000_000

Location = tuple[Any, ...]
_ALLOWED_CONTROLS = "\t\n\r"


class _Refused(yaml.MarkedYAMLError):
    """A limit of `_LimitedLoader`, reported with its place like any YAML error."""


class _LimitedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses deep nesting and repeated keys while it composes the node graph."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            first = seen.setdefault((key.tag, key.value), key)
            if first is not key:
                raise _Refused(problem=f"key '{key.value}' appears twice in one mapping (first on line "
                                       f"{first.start_mark.line + 1}); give each key once", problem_mark=key.start_mark)
        return node


def _check_expansion(root: yaml.Node) -> None:
    """Refuse aliases that expand past `MAX_VALUES` values or into themselves; linear in the file's size."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _Refused(problem="an alias refers to the collection that contains it", problem_mark=node.start_mark)
        open_nodes.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        open_nodes.discard(key)
        if total > MAX_VALUES:
            raise _Refused(problem=f"holds more than {MAX_VALUES:,} values once its aliases are expanded",
                           problem_mark=node.start_mark)
        sizes[key] = total
        return total

    size(root)


def _index(root: yaml.Node) -> dict[Location, int]:
    """The 1-based line of every key and list item, by path; an aliased collection is indexed once, where
    it is defined (elsewhere errors point at the alias)."""
    lines: dict[Location, int] = {}
    done: set[int] = set()

    def walk(node: yaml.Node, path: Location) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in done:
            return
        done.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    walk(root, ())
    return lines


def _where(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Location, int]]:
    """YAML text -> (data, line of every path), or a `UserError` naming the place and the problem."""
    bad = next((i for i, c in enumerate(text) if c < " " and c not in _ALLOWED_CONTROLS), None)
    if bad is not None:
        line = text.count("\n", 0, bad) + 1
        raise UserError(f"{source}, line {line}: not a text file (control character U+{ord(text[bad]):04X})")
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_expansion(node)
        lines = _index(node)
        return loader.construct_document(node), lines
    except _Refused as exc:
        raise UserError(f"{_where(exc, source)}: refused: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:
        raise UserError(f"{source}: not a text file (character #x{exc.character:04x} at position "
                        f"{exc.position})") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{_where(exc, source)}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def parse_yaml_value(text: str, source: str) -> Any:
    """One value given on the command line (``--set path=VALUE``), read with the same limits as a file."""
    return parse_yaml(text, source)[0]


def read_text(path: str | Path, what: str = "file") -> str:
    """A user's text file, at most `MAX_BYTES`, strictly UTF-8; a `UserError` saying what is wrong otherwise."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} not found: {path}")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file")
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise UserError(f"{path}: larger than {MAX_BYTES // 1024} KiB; a {what} is a short text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                        f"{exc.start})") from None


def load_yaml_file(path: str | Path, what: str = "scenario file") -> tuple[Any, dict[Location, int]]:
    """Read and parse a YAML file: (data, line of every path)."""
    return parse_yaml(read_text(path, what), str(path))
