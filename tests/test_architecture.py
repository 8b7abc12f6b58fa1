"""The package's shape, checked: layers import only downwards, no import circles, no imports hidden
inside functions, no function over 80 lines (CLI command signatures aside)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "datadiet"

# Lower numbers are lower layers: a module may import its own layer or any layer below it.
LAYERS = {
    "errors": 0,
    "defaults": 0,
    "validation": 0,
    "runs": 0,
    "data": 0,
    "models": 0,
    "scores": 1,
    "selection": 1,
    "lottery": 1,
    "training": 1,
    "stats": 1,
    "tables": 2,
    "reports": 3,
    "plots": 3,
    "engine": 4,
    "stages": 5,
    "experiments": 6,
    "cli": 7,
    "readme": 7,
}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def _resolve(name: str, current: str, level: int, is_package: bool) -> str:
    if level:
        base = current.split(".") if is_package else current.split(".")[:-1]
        base = base[: len(base) - (level - 1)]
        name = ".".join(base + ([name] if name else []))
    return name


def imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported datadiet module, inside a function?, line) for every import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child.module or "", module, child.level, path.name == "__init__.py")
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    found.append((sub if sub in MODULES else base, in_function, child.lineno))
            visit(child, inside)

    visit(tree, False)
    return found


def internal(name: str) -> str | None:
    """The datadiet module ``name`` refers to (itself, or the package holding it), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name if name.startswith("datadiet") and name != "datadiet" else None


def layer(module: str) -> int:
    top = module.split(".")[1]
    return LAYERS[top]


def graph() -> dict[str, set[str]]:
    g = {}
    for m in MODULES:
        if m == "datadiet":
            continue
        g[m] = {t for name, _, _ in imports(m) if (t := internal(name)) and t != m}
    return g


def test_every_top_level_module_has_a_layer():
    tops = {m.split(".")[1] for m in MODULES if m != "datadiet"}
    assert tops <= set(LAYERS), sorted(tops - set(LAYERS))


def test_no_import_runs_back_up_a_layer():
    g = graph()
    up = [
        f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
        for m, ts in g.items()
        for t in ts
        if layer(t) > layer(m)
    ]
    assert not up, "\n".join(up)


def test_no_import_circles():
    g = graph()
    # a package's __init__ re-exports its modules: an edge from a module to its own package (or back)
    # is the package, not a circle between rooms
    g = {m: {t for t in ts if not (m.startswith(t + ".") or t.startswith(m + "."))} for m, ts in g.items()}
    state: dict[str, int] = {}
    cycles = []

    def dfs(m, stack):
        state[m] = 1
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                cycles.append(" -> ".join([*stack[stack.index(t) :], t]))
            elif t not in state:
                dfs(t, [*stack, t])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            dfs(m, [m])
    assert not cycles, "\n".join(cycles)


def test_no_datadiet_import_is_hidden_inside_a_function():
    hidden = [
        f"{m}:{line} imports {name} inside a function"
        for m in MODULES
        if m != "datadiet"
        for name, inside, line in imports(m)
        if inside and internal(name)
    ]
    assert not hidden, "\n".join(hidden)


def _long_functions():
    for m, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body_start = node.body[0].lineno if m.startswith("datadiet.cli") else node.lineno
                length = node.end_lineno - body_start + 1
                if length > 80:
                    yield f"{m}.{node.name}: {length} lines"


def test_no_function_is_over_80_lines():
    long = list(_long_functions())
    assert not long, "\n".join(long)


@pytest.mark.parametrize("core", ["scores", "selection", "lottery", "training"])
def test_cores_do_not_import_the_layers_above(core):
    g = graph()
    bad = [f"{m} imports {t}" for m, ts in g.items() if m.split(".")[1] == core for t in ts if layer(t) > 1]
    assert not bad, "\n".join(bad)
