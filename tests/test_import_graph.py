"""pimsim's import graph, built with ``ast`` from the source files: no cycle between modules, and
no import from an earlier pipeline stage to a later one (lazy imports inside functions and
``TYPE_CHECKING`` imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pimsim"

# Earliest first; a module may import from its own stage and earlier ones only.
STAGES: tuple[tuple[str, ...], ...] = (
    ("pimsim", "pimsim.errors", "pimsim.io", "pimsim.paramfile", "pimsim.geometry",
     "pimsim.cliargs", "pimsim.executors", "pimsim.bundled", "pimsim.progress"),
    ("pimsim.data",),
    ("pimsim.network",),
    ("pimsim.quantize",),
    ("pimsim.train", "pimsim.adapt"),
    ("pimsim.device",),
    ("pimsim.mapper",),
    ("pimsim.simulate",),
    ("pimsim.reports",),
    ("pimsim.commands", "pimsim.__main__"),
)


def module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """pimsim modules imported anywhere in ``path`` (``from a import b`` names module ``a.b``
    when that is a module, else ``a``)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pimsim")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            if base.split(".")[0] != "pimsim":
                continue
            subs = {f"{base}.{a.name}" for a in node.names} & modules
            found.update(subs or {base})
            if len(subs) < len(node.names):
                found.add(base)
    return found & modules - {name}


def stage_of(name: str) -> int:
    best = None
    for index, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            if name == prefix or (prefix != "pimsim" and name.startswith(prefix + ".")):
                best = index
    if best is None:
        raise AssertionError(f"{name}: in no stage of STAGES; add it to the right one")
    return best


def graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def test_every_module_has_a_stage() -> None:
    for name in graph():
        stage_of(name)


def test_no_import_from_an_earlier_stage_to_a_later_one() -> None:
    bad = sorted(f"{a} (stage {stage_of(a)}) imports {b} (stage {stage_of(b)})"
                 for a, targets in graph().items() for b in targets
                 if stage_of(b) > stage_of(a))
    assert not bad, "\n".join(bad)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as a list of modules, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in sorted(edges):
        if state.get(root):
            continue
        stack = [(root, iter(sorted(edges[root])))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(edges.get(child, ())))))
    return None


def test_no_cycle_between_modules() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


@pytest.mark.parametrize("edges, cyclic", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
    ({"a": {"a2"}, "a2": set(), "b": {"b"}}, True),
])
def test_cycle_finder(edges: dict[str, set[str]], cyclic: bool) -> None:
    assert (find_cycle(edges) is not None) == cyclic


def test_the_checks_see_lazy_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("from __future__ import annotations\n"
                      "def f():\n    from pimsim.reports import plots\n"
                      "from . import sibling\n")
    found = imports_of("pimsim.device.mod", source,
                       {"pimsim.reports", "pimsim.reports.plots", "pimsim.device.sibling"})
    assert found == {"pimsim.reports.plots", "pimsim.device.sibling"}
