"""The house rules of ARCHITECTURE.md, read from the source with ``ast``:
every import (at module level or inside a function) goes from a layer to the
same or a lower one, no import cycle joins modules of ``care``, a name is
imported from the module that defines it (no module re-exports a moved name,
no module-level ``__getattr__`` keeps one alive), every ``care.`` path a YAML
file names exists, and no file in ``care/`` is over 500 lines."""

import ast
import importlib
import re
from pathlib import Path

import pytest

from conftest import REPO

MAX_LINES = 500

# ARCHITECTURE.md's layers, bottom first: a module may import its own layer
# and those below it, never one above.
LAYERS = (
    ("care", "care.io", "care.checkpoints", "care.recipe", "care.architectures", "care.plots"),
    ("care.lobes",),
    ("care.processing",),
    ("care.pretraining", "care.inference", "care.cli", "care.report"),
    ("care.probing",),
)
TOP = len(LAYERS)  # recipes, templates, benchmarks


def layer_of(module):
    """Index in :data:`LAYERS` of a ``care`` module (longest prefix wins;
    ``care`` itself is only the package's ``__init__``)."""
    best, index = "", None
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            below = module.startswith(prefix + ".") and prefix != "care"
            if (module == prefix or below) and len(prefix) > len(best):
                best, index = prefix, number
    assert index is not None, f"{module} is in no layer of ARCHITECTURE.md"
    return index


def module_name(path, root=REPO):
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def care_modules(root=REPO):
    """``{module: path}`` of every Python file under ``root/care``."""
    return {module_name(p, root): p for p in sorted((root / "care").rglob("*.py"))}


def top_layer_files(root=REPO):
    """Recipe, template, benchmark and test scripts (run logs are not product code)."""
    files = []
    for folder in ("recipes", "templates", "benchmarks", "tests"):
        files += [p for p in sorted((root / folder).rglob("*.py")) if "logs" not in p.parts]
    return files


def imports(path, module, packages):
    """``[(line, module, name or None)]`` of every ``care`` import in ``path``,
    module-level or not; relative imports resolved against ``module``."""
    found = []
    package = module if module in packages else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "care"]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([target] if target else []))
            if target.split(".")[0] == "care":
                found += [(node.lineno, target, a.name) for a in node.names]
    return found


def defined_names(path):
    """Names a module defines at its top level (functions, classes, assignments)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def resolve(target, name, modules):
    """The module an import reaches: ``from package import submodule`` reaches
    the submodule; anything else the module named."""
    if name and f"{target}.{name}" in modules:
        return f"{target}.{name}"
    return target


def import_graph(root=REPO):
    """``{module: {imported module: first line}}`` over the ``care`` modules."""
    modules = care_modules(root)
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    graph = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        for line, target, name in imports(path, module, packages):
            edges.setdefault(resolve(target, name, modules), line)
    return graph


def layer_violations(root=REPO):
    """``"importer:line imports imported (layer a < layer b)"`` for every upward import."""
    out = []
    for module, edges in import_graph(root).items():
        for target, line in edges.items():
            if target in care_modules(root) and layer_of(target) > layer_of(module):
                out.append(f"{module}:{line} imports {target} "
                           f"(layer {layer_of(module)} < layer {layer_of(target)})")
    return out


def import_cycles(root=REPO):
    """The strongly connected components (more than one module, or a module
    importing itself) of the import graph, as sorted lists."""
    modules = care_modules(root)
    graph = {m: [t for t in edges if t in modules] for m, edges in import_graph(root).items()}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(node):  # Tarjan's algorithm
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def reexported_names(root=REPO):
    """``"file:line: module.name"`` for every name imported from a ``care``
    module that does not define it (a package's ``__init__`` defines what it
    imports: that is its public interface)."""
    modules = care_modules(root)
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    sources = [(modules[m], m) for m in modules] + [(p, None) for p in top_layer_files(root)]
    out = []
    for path, module in sources:
        for line, target, name in imports(path, module or "", packages):
            where = f"{path.relative_to(root)}:{line}"
            if target not in modules:
                out.append(f"{where}: no module {target}")
            elif name and name != "*" and f"{target}.{name}" not in modules:
                defined = defined_names(modules[target])
                if target in packages:
                    defined |= {n for _, t, n in imports(modules[target], target, packages) if n}
                if name not in defined:
                    out.append(f"{where}: {target} does not define {name}")
    return out


def unused_imports(root=REPO):
    """``"module: name"`` for every name a ``care`` module (not a package's
    ``__init__``) imports from ``care`` without using it: a re-export."""
    out = []
    modules = care_modules(root)
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    for module, path in modules.items():
        if module in packages:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        for line, target, name in imports(path, module, packages):
            bound = name if name else target.split(".")[0]
            if bound not in used:
                out.append(f"{module}:{line}: {target}.{name or ''}".rstrip("."))
    return out


def module_getattr(root=REPO):
    """Modules of ``care`` with a module-level ``__getattr__`` (the shape of a
    shim that keeps moved names importable)."""
    return [m for m, p in care_modules(root).items()
            if "__getattr__" in {n.name for n in ast.parse(p.read_text()).body
                                 if isinstance(n, ast.FunctionDef)}]


def long_files(root=REPO):
    out = []
    for path in sorted((root / "care").rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            out.append(f"{path.relative_to(root)}: {lines} lines")
    return out


# ---------------------------------------------------------------------------


def test_every_care_module_has_a_layer():
    for module in care_modules():
        layer_of(module)


def test_no_import_goes_up_a_layer():
    """A lower layer never imports a higher one, not even inside a function
    (``care.processing`` never imports ``care.probing``)."""
    assert layer_violations() == []


def test_no_import_cycle():
    """No two modules of ``care`` import each other, directly or through
    others (imports inside functions included)."""
    assert import_cycles() == []


def test_names_are_imported_from_where_they_are_defined():
    """Callers import a name from the module that defines it: no module keeps
    a moved name alive by importing it (recipes, templates and benchmarks
    included), and no module has a ``__getattr__`` for old names."""
    assert reexported_names() == []
    assert unused_imports() == []
    assert module_getattr() == []


def test_no_care_file_over_500_lines():
    assert long_files() == []


YAML_PATH = re.compile(r"!(?:new|name|apply):(care(?:\.\w+)+)")


@pytest.mark.parametrize("folder", ["recipes", "templates", "care"])
def test_yaml_paths_exist(folder):
    """Every ``!new:`` / ``!name:`` / ``!apply:`` path into ``care`` that a
    tracked YAML file names can be imported."""
    missing = []
    for path in sorted((REPO / folder).rglob("*.yaml")):
        if "logs" in path.parts:
            continue
        for dotted in sorted(set(YAML_PATH.findall(path.read_text(encoding="utf-8")))):
            module, _, attribute = dotted.rpartition(".")
            try:
                getattr(importlib.import_module(module), attribute)
            except (ImportError, AttributeError):
                try:
                    importlib.import_module(dotted)
                except ImportError:
                    missing.append(f"{path.relative_to(REPO)}: {dotted}")
    assert missing == []


def test_the_checks_catch_what_they_forbid(tmp_path):
    """The checks themselves, on a small fake tree: an upward import inside a
    function, a cycle, a re-exported name and a long file are all found."""
    care = tmp_path / "care"
    for folder in ("processing", "probing"):
        (care / folder).mkdir(parents=True)
        (care / folder / "__init__.py").write_text("")
    (care / "__init__.py").write_text("")
    (care / "io.py").write_text("def write():\n    pass\n")
    (care / "processing" / "folds.py").write_text(
        "from care.io import write\n\ndef splits():\n    from care.probing.emobox import read\n"
        "    write(read())\n")
    (care / "probing" / "emobox.py").write_text(
        "from care.processing.folds import splits, write\n\ndef read():\n    pass\n"
        + "x = 1\n" * MAX_LINES)
    for folder in ("recipes", "templates", "benchmarks", "tests"):
        (tmp_path / folder).mkdir()
    assert layer_violations(tmp_path) == [
        "care.processing.folds:4 imports care.probing.emobox (layer 2 < layer 4)"]
    assert import_cycles(tmp_path) == [["care.probing.emobox", "care.processing.folds"]]
    assert reexported_names(tmp_path) == [
        "care/probing/emobox.py:1: care.processing.folds does not define write"]
    assert unused_imports(tmp_path) == [
        "care.probing.emobox:1: care.processing.folds.splits",
        "care.probing.emobox:1: care.processing.folds.write"]
    assert long_files(tmp_path) == [f"care/probing/emobox.py: {MAX_LINES + 4} lines"]
