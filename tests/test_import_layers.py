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
