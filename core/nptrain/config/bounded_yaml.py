"""The one way nptrain parses YAML: size-capped files and a node budget for alias expansion.

YAML aliases (``*name``) reuse a node, so a few hundred bytes of nested aliases describe a document of
billions of nodes ("billion laughs"). ruamel keeps an alias as a shared node, so parsing is cheap; what
explodes is everything that walks the result (turning it into plain dicts, recording locations, merge
keys). Before anything is constructed, the composed node graph is measured with aliases counted at
their expanded size (memoised, so measuring is linear in the file); past :data:`MAX_NODES` the
document is refused with a located error. Ordinary anchors (``dep_mul: &dep_mul 0.33`` … ``*dep_mul``)
cost one node per use and keep working.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from nptrain.errors import ConfigError

MAX_YAML_BYTES = 1 << 20  # configs, recipes and cards are a few KB; 1 MiB leaves room for long class lists
MAX_NODES = 100_000  # after alias expansion; the largest real config is a few thousand nodes
MAX_DEPTH = 100  # nesting levels; real configs use fewer than 10


def read_text_capped(path: str | Path, limit: int = MAX_YAML_BYTES, *, what: str = "file") -> str:
    """UTF-8 text of ``path``, refusing files over ``limit`` bytes without reading past it."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{what} is larger than {limit:,} bytes; nptrain refuses to read it "
                          "(is this the right file?)", file=str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not a UTF-8 text file", file=str(path)) from None


def _children(node: Any) -> list:
    value = getattr(node, "value", None)
    if not isinstance(value, list):
        return []  # a scalar
    out = []
    for item in value:
        out.extend(item if isinstance(item, tuple) else (item,))  # mapping items are (key, value) pairs
    return out


def _located(message: str, node: Any, where: str, line_offset: int) -> ConfigError:
    mark = getattr(node, "start_mark", None)
    if mark is None:
        return ConfigError(message, file=where)
    return ConfigError(message, file=where, line=mark.line + 1 + line_offset, col=mark.column + 1)


def check_expansion(root: Any, where: str, *, line_offset: int = 0, max_nodes: int = MAX_NODES,
                    max_depth: int = MAX_DEPTH) -> int:
    """Node count of ``root`` with every alias expanded; raises a located error past the budget,
    past ``max_depth`` levels, or on an alias used inside its own anchor (a cycle)."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    open_nodes: set[int] = set()  # the current depth-first path: meeting one again is a cycle
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:  # iterative: a deep document must not overflow Python's stack here
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            if size[key] > max_nodes:
                raise _located(f"YAML aliases expand to more than {max_nodes:,} nodes here (an alias bomb?); "
                               "nptrain refuses documents that large", node, where, line_offset)
            if height[key] > max_depth:
                raise _located(f"YAML nested more than {max_depth} levels deep", node, where, line_offset)
            continue
        if key in size:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in open_nodes:
                raise _located("recursive YAML alias (an anchor used inside itself)", kid, where, line_offset)
            if id(kid) not in size:
                stack.append((kid, False))
    return size.get(id(root), 0)


def _flow_depth_error(text: str, where: str, line_offset: int) -> Optional[ConfigError]:
    """A located error when ``[``/``{`` nest deeper than :data:`MAX_DEPTH` (ruamel's scanner slows down
    quadratically with flow nesting, so this is checked on the text before parsing). Quoted strings and
    comments are skipped the way YAML reads them; a quote only opens a string at the start of a scalar."""
    depth, line, col, quote, comment, prev = 0, 1, 0, "", False, " "
    chars = iter(text)
    for ch in chars:
        col += 1
        if ch == "\n":
            line, col, comment = line + 1, 0, False
            prev = ch
            continue
        if comment:
            continue
        if quote:
            if ch == "\\" and quote == '"':
                next(chars, None)  # an escaped character, whatever it is
                col += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"" and prev in " \t\n[{,:-?":
            quote = ch
        elif ch == "#" and prev in " \t\n":
            comment = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return ConfigError(f"YAML nested more than {MAX_DEPTH} levels deep", file=where,
                                   line=line + line_offset, col=col)
        elif ch in "]}":
            depth = max(depth - 1, 0)
        prev = ch
    return None


def load_yaml(text: str, where: str, *, typ: str = "safe", line_offset: int = 0,
              max_nodes: int = MAX_NODES) -> Any:
    """Parse one YAML document from ``text`` (named ``where`` in errors) with the alias budget.

    ``typ`` is ruamel's loader type ("safe" → plain Python, "rt" → commented maps that keep line
    numbers). ``line_offset`` is added to reported lines when ``text`` starts inside a larger file.
    Syntax errors are located the same way; nothing here runs code or builds arbitrary objects."""
    # lazy: ruamel
    from ruamel.yaml import YAML
    from ruamel.yaml.docinfo import DocInfo, version
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    too_deep = _flow_depth_error(text, where, line_offset)
    if too_deep is not None:
        raise too_deep
    yaml = YAML(typ=typ, pure=True)
    parser = None
    try:
        # the same set-up YAML.load does (a %YAML directive needs the document info)
        yaml.doc_infos.append(DocInfo(requested_version=version(yaml.version)))
        yaml.tags = {}
        constructor, parser = yaml.get_constructor_parser(text)
        node = constructor.composer.get_single_node()
        if node is None:
            return None
        check_expansion(node, where, line_offset=line_offset, max_nodes=max_nodes)
        return constructor.construct_document(node)
    except MarkedYAMLError as exc:
        mark: Optional[Any] = exc.problem_mark
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", file=where,
                          line=mark.line + 1 + line_offset if mark else None,
                          col=mark.column + 1 if mark else None) from None
    except YAMLError as exc:  # reader errors (control characters) carry no mark
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                          file=where) from None
    except RecursionError:  # the parser itself recurses per nesting level
        raise ConfigError(f"YAML nested more than {MAX_DEPTH} levels deep", file=where) from None
    finally:
        if parser is not None:
            parser.dispose()
