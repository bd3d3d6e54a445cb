"""The layer rules of ``upsell``, checked on the package's own imports.

An ast scan of ``src/upsell`` (imports inside functions included, ``if TYPE_CHECKING:``
blocks excluded) gives the module graph; the tests below check three rules on it:

* nothing below ``report``/``cli`` imports them (the view and the command line sit on top);
* no cycle between packages;
* no private name (a ``_name`` module below a package, or a ``_name`` object) is imported
  across a package boundary. The top-level private modules (``upsell._validation``,
  ``upsell._display`` ...) are the library-wide internals every package may use.

Each rule has an allowlist of today's known violations (issue 19). The lists may only
shrink: a new violation fails, and so does an allowlisted one that is gone (delete it from
the list in the same commit that fixes it, so the list stays exact).

Run ``python tests/test_architecture.py`` to print the package graph and the violations.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "upsell"

# layer of each package (a package is ``upsell.<first name>``); higher layers may import lower
# ones, never the reverse. ``upsell`` itself (the facade ``__init__``) is left out of the checks.
CORE = 0  # top-level modules: exceptions, persist, _validation, _display, _results, ...
LAYERS = {
    "upsell.data": 1,
    # top-level modules that build on data.ids: the shared result and lookup types and the
    # model files sit beside data, not below it
    "upsell.persist": 1,
    "upsell._lookup": 1,
    "upsell._results": 1,
    "upsell.datasets": 2,
    "upsell.bundles": 2,
    "upsell.cf": 2,
    "upsell.segments": 2,
    "upsell.tiers": 2,
    "upsell.kpi": 2,
    "upsell.evaluate": 2,
    "upsell.recommend": 3,
    "upsell.spark": 3,
    "upsell.report": 4,
    "upsell.cli": 4,
    "upsell.serve": 4,
    "upsell.__main__": 4,
}

# -- allowlists: today's violations, to be removed by issue 19 (never add to them) ----------
# (importer module, imported module). Empty since the result .plot() functions moved into leaf
# modules beside their domain (upsell.<domain>.plots); report.plots re-exports them.
UPWARD_ALLOWED: set[tuple[str, str]] = set()
# sorted pairs of packages that reach each other through imports. Empty since data writes
# through upsell._atomic rather than upsell.persist (which reads data.ids).
CYCLES_ALLOWED: set[tuple[str, str]] = set()
# (importer, "module:name"). Empty since datasets builds Transactions through the documented
# internal module data.engine; spark reuses the local engines through bundles.engine,
# cf.engine, kpi.engine and segments.engine.
PRIVATE_ALLOWED: set[tuple[str, str]] = set()
# files and functions past the size a reader holds in mind at once (issue 19)
MAX_FILE_LINES = 900
MAX_FUNCTION_LINES = 150
LONG_FILES_ALLOWED: set[tuple[str, str]] = set()
LONG_FUNCTIONS_ALLOWED: set[tuple[str, str]] = set()
# --------------------------------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """All nodes below ``node`` except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def scan(src: Path = SRC) -> dict[str, list[tuple[str, str | None]]]:
    """Map each module to its ``(imported module, imported name or None)`` pairs in upsell."""
    modules = {module_name(p): p for p in sorted(src.rglob("*.py"))}
    graph: dict[str, list[tuple[str, str | None]]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: list[tuple[str, str | None]] = []
        for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges += [(a.name, None) for a in node.names if a.name.split(".")[0] == "upsell"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "upsell":
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # ``from upsell.x import module``
                        edges.append((sub, None))
                    else:
                        edges.append((target, alias.name))
        graph[name] = edges
    return graph


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def layer_of(module: str) -> int | None:
    package = package_of(module)
    if package == "upsell":
        return None
    return LAYERS.get(package, CORE)


def upward_imports(graph: dict[str, list[tuple[str, str | None]]]) -> set[tuple[str, str]]:
    """Imports of a package in a higher layer (report, cli and serve are the top one)."""
    found = set()
    for module, edges in graph.items():
        low = layer_of(module)
        if low is None:
            continue
        for target, _ in edges:
            high = layer_of(target)
            if package_of(target) == package_of(module) or high is None:
                continue
            if high > low:
                found.add((module, target))
    return found


def package_graph(graph: dict[str, list[tuple[str, str | None]]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, edges in graph.items():
        source = package_of(module)
        if source == "upsell":
            continue
        packages[source]
        for target, _ in edges:
            if package_of(target) not in (source, "upsell"):
                packages[source].add(package_of(target))
    return packages


def package_cycles(graph: dict[str, list[tuple[str, str | None]]]) -> set[tuple[str, str]]:
    """Sorted pairs of packages that reach each other."""
    packages = package_graph(graph)
    reach: dict[str, set[str]] = {}
    for start in packages:
        seen: set[str] = set()
        stack = list(packages[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(packages.get(node, ()))
        reach[start] = seen
    return {(a, b) for a in packages for b in reach[a] if a < b and a in reach.get(b, ())}


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def private_imports(graph: dict[str, list[tuple[str, str | None]]]) -> set[tuple[str, str]]:
    """``(importer, "module:name")`` for private names taken from another package."""
    found = set()
    for module, edges in graph.items():
        for target, name in edges:
            package = package_of(target)
            if package in (package_of(module), "upsell") or _private(package.split(".")[-1]):
                continue  # same package, the facade, or a top-level shared internal
            below = target.split(".")[2:]
            if any(_private(p) for p in below) or (name is not None and _private(name)):
                found.add((module, f"{target}:{name or ''}"))
    return found


def module_cycles(graph: dict[str, list[tuple[str, str | None]]]) -> list[list[str]]:
    """Groups of modules that reach each other through imports (lazy ones included)."""
    adjacency = {m: {t for t, _ in edges if t in graph and t != m} for m, edges in graph.items()}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan, iterative (no recursion limit)
        work = [(start, iter(sorted(adjacency[start])))]
        order[start] = low[start] = len(order)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in order:
                    order[child] = low[child] = len(order)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(adjacency[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], order[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == order[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for module in sorted(adjacency):
        if module not in order:
            visit(module)
    return sorted(groups)


def oversized(src: Path = SRC) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """``(module, "N lines")`` over :data:`MAX_FILE_LINES` and ``(module, "function")`` over
    :data:`MAX_FUNCTION_LINES` (decorators and docstrings included)."""
    files, functions = set(), set()
    for path in sorted(src.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = module_name(path)
        if text.count("\n") > MAX_FILE_LINES:
            files.add((name, "file"))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                if (node.end_lineno or node.lineno) - first + 1 > MAX_FUNCTION_LINES:
                    functions.add((name, node.name))
    return files, functions


def _check(found: set[tuple[str, str]], allowed: set[tuple[str, str]], what: str) -> None:
    new = sorted(found - allowed)
    gone = sorted(allowed - found)
    message = []
    if new:
        message.append(f"new {what} (not allowed, see docs/architecture.md):")
        message += [f"  {a} -> {b}" for a, b in new]
    if gone:
        message.append(f"fixed {what}: delete from the allowlist in tests/test_architecture.py:")
        message += [f"  {a} -> {b}" for a, b in gone]
    assert not message, "\n".join(message)


def test_scan_sees_the_package() -> None:
    graph = scan()
    assert "upsell.data.transactions" in graph
    assert ("upsell.exceptions", None) in {(t, None) for t, _ in graph["upsell.data.transactions"]}


def test_no_upward_imports() -> None:
    _check(upward_imports(scan()), UPWARD_ALLOWED, "upward imports")


def test_no_package_cycles() -> None:
    _check(package_cycles(scan()), CYCLES_ALLOWED, "package cycles")


def test_no_private_names_across_packages() -> None:
    _check(private_imports(scan()), PRIVATE_ALLOWED, "private cross-package imports")


def test_no_module_cycles() -> None:
    cycles = module_cycles(scan())
    assert not cycles, "modules that import each other (lazy imports included):\n" + "\n".join(
        "  " + " <-> ".join(group) for group in cycles)


def test_no_god_files_or_functions() -> None:
    files, functions = oversized()
    _check(files, LONG_FILES_ALLOWED, f"files over {MAX_FILE_LINES} lines")
    _check(functions, LONG_FUNCTIONS_ALLOWED, f"functions over {MAX_FUNCTION_LINES} lines")


def test_allowlists_only_name_modules_that_exist() -> None:
    graph = scan()
    for module, _ in UPWARD_ALLOWED | PRIVATE_ALLOWED:
        assert module in graph, module


def main() -> None:  # pragma: no cover - a report for people
    graph = scan()
    n_edges = sum(len(e) for e in graph.values())
    print(f"{len(graph)} modules, {n_edges} imports of upsell modules")
    print("\npackage graph (layer: package -> packages it imports):")
    packages = package_graph(graph)
    for package in sorted(packages, key=lambda p: (LAYERS.get(p, CORE), p)):
        targets = ", ".join(sorted(packages[package])) or "-"
        print(f"  {LAYERS.get(package, CORE)}: {package} -> {targets}")
    for title, found in (
        ("upward imports", upward_imports(graph)),
        ("package cycles", package_cycles(graph)),
        ("private cross-package imports", private_imports(graph)),
        ("module cycles", {(g[0], " <-> ".join(g[1:])) for g in module_cycles(graph)}),
        ("oversized files and functions", set().union(*oversized())),
    ):
        print(f"\n{title}: {len(found)}")
        for a, b in sorted(found):
            print(f"  {a} -> {b}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
