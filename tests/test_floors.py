"""The floors of the house (docs/architecture.md): a module imports only from its own floor or lower, never
up; the packages that share a floor do not import each other; no two modules import each other, directly or
around a circle. Read from the source (every ``import``, also those inside functions), so a lazy import that
hides a circle counts too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("data", "geo", "layers", "web", "api")

# Lowest (1, the ground floor) first, as in docs/architecture.md. A module belongs to the longest prefix
# listed; each floor names the packages on it.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("data", "data.vocab", "data.settings", "data.text", "data.limits", "data.permissions"),  # ground
    ("geo",),
    ("data.db",),
    ("layers",),
    ("data.ops", "data.importers", "data.demo", "data.ha", "data.national"),
    ("web",),
    ("api",),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts and "versions" in path.parts:
                continue  # migrations import only alembic and sqlalchemy, and run outside the app
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    out.add(f"{base}.{alias.name}")
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def _place(name: str) -> tuple[int, str]:
    """(floor number, the listed prefix the module belongs to)."""
    best: tuple[int, str] | None = None
    for number, prefixes in enumerate(FLOORS, start=1):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (number, prefix)
    assert best is not None, f"{name} is on no floor: add it to FLOORS and to docs/architecture.md"
    return best


def _group(prefix: str) -> str:
    """Packages sharing a floor are separate groups; the ground floor is one group."""
    return "ground" if _place(prefix)[0] == 1 else prefix


GRAPH = {name: _imports(name, path, set(_modules())) for name, path in _modules().items()}


def test_every_module_is_on_a_floor_and_data_keeps_only_the_ground_floor_at_its_top() -> None:
    for name in GRAPH:
        number, prefix = _place(name)
        if name.count(".") == 1 and name.startswith("data."):
            assert number == 1 or name in {p for floor in FLOORS for p in floor}, (
                f"{name} sits at the top of data/ but is not ground floor: move it into db/, ops/, importers/ "
                "or demo/")
        assert prefix  # placed


def test_no_module_imports_from_a_higher_floor_or_a_neighbour_on_its_floor() -> None:
    wrong = []
    for name, imported in GRAPH.items():
        floor, prefix = _place(name)
        for other in imported:
            other_floor, other_prefix = _place(other)
            if other_floor > floor:
                wrong.append(f"{name} (floor {floor}) imports {other} (floor {other_floor}, higher)")
            elif other_floor == floor and _group(prefix) != _group(other_prefix):
                wrong.append(f"{name} imports {other}: two packages of floor {floor} must not import each other")
    assert not wrong, "\n".join(sorted(wrong))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    assert _cycles(GRAPH) == []


def test_the_circle_finder_finds_a_circle() -> None:
    # The check above is only worth something if a circle would be seen.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_floors_doc_names_every_floor() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for floor in FLOORS:
        for prefix in floor:
            if prefix != "data":
                assert f"`{prefix}" in doc, f"docs/architecture.md does not mention {prefix}"
