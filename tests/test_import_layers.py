"""The core's imports form layers: no module-level import cycle between modules, none between packages,
and each package imports only what README.md's "Where things live" map says it may.

Imports are read with ``ast`` (nothing is imported): those a module runs when it is imported, that is
its top level and class bodies, not function bodies nor ``if TYPE_CHECKING:`` blocks."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "nptrain"


def _modules() -> dict[str, Path]:
    out = {}
    for path in CORE.rglob("*.py"):
        parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str:
    """The project module ``name`` denotes: itself, or the module an attribute import comes from."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _import_time_imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Project modules imported when ``module`` is imported (its parent packages' ``__init__`` included)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in child.names]
            for name in names:
                if name == "nptrain" or name.startswith("nptrain."):
                    target = _owner(name)
                    # importing a.b.c runs a/__init__ and a/b/__init__ too, except the packages being
                    # initialised already because ``module`` lives in them
                    while target not in ("", "nptrain") and not (module + ".").startswith(target + "."):
                        found.add(target)
                        target = target.rpartition(".")[0]
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    return {m: _import_time_imports(ast.parse(p.read_text()), m, p.name == "__init__.py") for m, p in MODULES.items()}


def package_of(module: str) -> str:
    """``nptrain.config.loader`` → ``config``; a top-level module is its own package (``records``)."""
    return module.split(".")[1] if module != "nptrain" else "nptrain"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        src = package_of(module)
        out.setdefault(src, set()).update(package_of(t) for t in targets if package_of(t) not in (src, "nptrain"))
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_reads_relative_and_attribute_imports():
    tree = ast.parse("from nptrain.config.loader import LoadedConfig\nfrom .targets import detection_targets\n"
                     "from nptrain import hints\ndef f():\n    from nptrain import pickles\n")
    assert _import_time_imports(tree, "nptrain.training.setup", False) == {
        "nptrain.config.loader", "nptrain.config", "nptrain.training.targets", "nptrain.hints"}


def test_no_module_level_import_cycle():
    assert _cycles(import_graph()) == []


def test_no_package_level_import_cycle():
    assert _cycles(package_graph(import_graph())) == []


def _readme_map() -> dict[str, set[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    out = {}
    for row in re.findall(r"^\| `([a-z_]+)/` \|[^|]*\| ([^|]*) \|$", section, flags=re.M):
        name, allowed = row
        out[name] = {a.strip(" `") for a in allowed.split(",") if a.strip(" `—-")}
    return out


def test_packages_import_only_what_the_readme_map_allows():
    allowed = _readme_map()
    actual = package_graph(import_graph())
    packages = {package_of(m) for m, path in MODULES.items() if path.name == "__init__.py"} - {"nptrain"}
    assert sorted(packages - set(allowed)) == [], "README.md 'Where things live' misses these packages"
    extra = {p: sorted(actual.get(p, set()) - allowed[p]) for p in packages}
    assert {p: e for p, e in extra.items() if e} == {}, "imports the README map does not allow"


# An import inside a function must say why it is there (README "Where things live"): a `# lazy: <reason>`
# comment on its line, or on the line directly above it or above an earlier import of the same run of
# consecutive imports, e.g. `# lazy: torch`, `# lazy: layer (README map: api/ may not import training)`. Imports of these heavy third-party packages explain themselves.
SELF_EXPLAINING_LAZY = frozenset({"torch", "torch_pruning", "matplotlib", "onnx", "onnxruntime", "openvino",
                                  "nncf", "sklearn", "faster_coco_eval"})
_LAZY_COMMENT = re.compile(r"#\s*lazy:\s*\S")


def _imported_root(node: ast.Import | ast.ImportFrom) -> str:
    if isinstance(node, ast.ImportFrom):
        return "." if node.level else (node.module or "").split(".")[0]
    return node.names[0].name.split(".")[0]


def uncommented_function_imports(source: str) -> list[int]:
    """Line numbers of imports inside a function that neither carry a ``# lazy:`` comment nor import a
    self-explaining heavy package."""
    lines = source.splitlines()
    out: list[int] = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for body in _statement_lists(func):
            block_comment = False
            previous_was_import = False
            for stmt in body:
                if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    previous_was_import = False
                    continue
                above = lines[stmt.lineno - 2].strip() if stmt.lineno >= 2 else ""
                if _LAZY_COMMENT.match(above):  # covers this import and the ones that follow it
                    block_comment = True
                elif not previous_was_import:
                    block_comment = False
                previous_was_import = True
                own_line = any(_LAZY_COMMENT.search(lines[n - 1]) for n in range(stmt.lineno, stmt.end_lineno + 1))
                if not (block_comment or own_line or _imported_root(stmt) in SELF_EXPLAINING_LAZY):
                    out.append(stmt.lineno)
    return sorted(set(out))


def _statement_lists(func: ast.AST) -> list[list[ast.stmt]]:
    """Every statement list inside ``func`` (its body, branches, loops, try blocks), not nested defs'."""
    out: list[list[ast.stmt]] = []

    def visit(node: ast.AST) -> None:
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                out.append(value)
            for child in value if isinstance(value, list) else ():
                if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(child)

    visit(func)
    return out


def test_lazy_comment_finder():
    source = ("def f():\n    # lazy: torch\n    from nptrain import a\n    import nptrain.b\n    x = 1\n"
              "    import nptrain.c\n    import json  # lazy: cheap but rare\n    import torch\n"
              "    if x:\n        from . import d\n    def g():\n        import nptrain.e\n")
    assert uncommented_function_imports(source) == [6, 10, 12]


def test_function_level_imports_say_why():
    missing = {str(path.relative_to(ROOT)): lines for path in MODULES.values()
               if (lines := uncommented_function_imports(path.read_text()))}
    assert missing == {}, "imports inside functions without a '# lazy: <reason>' comment (see README)"


def test_no_function_level_import_stands_in_for_a_cycle():
    """A module cycle inside a package is untangled (README "Where things live"), not hidden in a function."""
    cycle_comment = re.compile(r"#\s*lazy:.*\bcycle\b")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in MODULES.values()
             for n, line in enumerate(path.read_text().splitlines(), 1) if cycle_comment.search(line)]
    assert found == []
