"""The hub's layering, read from its source: plug-ins depend on the hub and never the reverse,
and no two of the hub's packages import each other."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "streamhub"
# Whoever builds the app composes these (streamhub.cli names them by string, as uvicorn names an
# app); the hub's own code never imports them.
PLUG_INS = ("recorder", "classroom_agent")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST, module: str, typing: bool = False) -> Iterator[tuple[int, str]]:
    """Every module this code imports when it runs (at import time or in a function), as
    absolute names; imports for the type checker only count with ``typing``."""
    stack: list[ast.AST] = [tree]
    package = module if module == "streamhub" else module.rsplit(".", 1)[0]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node) and not typing:
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}"
        stack.extend(ast.iter_child_nodes(node))


def _hub_sources() -> Iterator[tuple[Path, str, ast.AST]]:
    for path in sorted(HUB.rglob("*.py")):
        yield path, _module(path), ast.parse(path.read_text(), str(path))


def test_the_hub_never_imports_a_plug_in() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path, module, tree in _hub_sources()
        for line, name in _imports(tree, module)
        if name.split(".")[0] in PLUG_INS
    ]
    assert not found, "\n".join(found)


def _package(module: str) -> str:
    """streamhub.lesson.room -> streamhub.lesson; a top-level module stands for itself."""
    return ".".join(module.split(".")[:2])


def _graph(
    group: Callable[[str], str] = _package, typing: bool = False
) -> dict[str, dict[str, str]]:
    """package (or module) -> what it imports -> one place that does (for the message)."""
    modules = {module for _, module, _ in _hub_sources()}
    graph: dict[str, dict[str, str]] = {}
    for path, module, tree in _hub_sources():
        for line, name in _imports(tree, module, typing):
            if name not in modules:
                continue
            source, target = group(module), group(name)
            if source != target and "streamhub" not in (source, target):
                graph.setdefault(source, {}).setdefault(target, f"{path.relative_to(ROOT)}:{line}")
    return graph


def _cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _explain(graph: dict[str, dict[str, str]], cycles: list[list[str]]) -> str:
    return "\n".join(
        f"{source} -> {target} ({where})"
        for component in cycles
        for source in component
        for target, where in sorted(graph[source].items())
        if target in component
    )


def test_no_import_cycles_between_the_hubs_packages() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, _explain(graph, cycles)


def test_no_import_cycles_between_the_hubs_modules() -> None:
    graph = _graph(lambda module: module)
    cycles = _cycles(graph)
    assert not cycles, _explain(graph, cycles)


def test_no_import_cycles_for_the_type_checker_either() -> None:
    graph = _graph(lambda module: module, typing=True)
    cycles = _cycles(graph)
    assert not cycles, _explain(graph, cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b": "x"}, "b": {"c": "y"}, "c": {"a": "z"}, "d": {"a": "w"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_streamhub_serve_records() -> None:
    """The hub records only because `streamhub serve` composes the recorder into it."""
    from recorder.plugin import recorder_extension
    from streamhub.cli import serve_extensions

    assert serve_extensions() == [recorder_extension]


def test_only_the_registry_writes_a_rooms_lesson_and_recording() -> None:
    """Room.apply_lesson/apply_recording are LessonRegistry's (update_lesson, set_recording),
    which tell every node; the rest of the hub and its plug-ins go through it."""
    writers = ("apply_lesson", "apply_recording")
    found = []
    for folder in (HUB, ROOT / "recorder", ROOT / "classroom_agent"):
        for path in sorted(folder.rglob("*.py")):
            if path.parent == HUB / "lesson":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Attribute) and node.attr in writers:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    assert not found, "\n".join(found)
