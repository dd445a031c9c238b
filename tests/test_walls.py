"""The walls between the parts, read from the imports (ast), so they stay where
docs/architecture.md draws them.

Layers, top to bottom (a package imports only from its own layer's package or below):

    dashboard                       the Streamlit app
    offload_console                 settings, operator actions, the CLI and `up`
    sidecar, reconciler             always-on receiver; polling repair
    storage, offload_client         the database; HTTP to Offload

The sandbox is a separate program standing in for Offload: it imports nothing of the console.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dashboard", "offload_console", "sidecar", "reconciler", "storage", "offload_client")
ALL = (*PACKAGES, "sandbox")
MAY_IMPORT = {
    "offload_client": set(),
    "storage": set(),
    "sandbox": set(),
    "reconciler": {"storage", "offload_client"},
    "sidecar": {"storage", "offload_client"},
    "offload_console": {"storage", "offload_client", "sidecar", "reconciler", "sandbox"},
    "dashboard": {"offload_console", "storage", "offload_client"},
}
# Only the CLI starts the other programs; the rest of offload_console is the dashboard's
# library and stays below them.
RUNNERS = {
    "offload_console/cli.py",
    "offload_console/supervisor.py",
    "offload_console/sidecar_run.py",  # the sidecar command's parts put together
}


def modules() -> dict[str, Path]:
    found = {}
    for package in ALL:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[path.relative_to(ROOT).as_posix()] = path
    return found


def imports(path: Path, package: tuple[str, ...] | None = None) -> list[tuple[str, list[str], int]]:
    """``(module, names, line)`` for every import, at any depth (lazy ones too); a relative
    import is read as the absolute module it names (``package``: the file's, by default from
    its place in the repository)."""
    found = []
    if package is None:
        package = path.relative_to(ROOT).parent.parts if path.is_relative_to(ROOT) else ()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


def package_of(name: str) -> str:
    return name.split(".")[0]


MODULES = modules()


@pytest.mark.parametrize("where", sorted(MODULES))
def test_no_import_runs_against_the_layers(where):
    own = where.split("/")[0]
    allowed = {own} | MAY_IMPORT[own]
    if own == "offload_console" and where not in RUNNERS:
        allowed -= {"sidecar", "reconciler", "sandbox"}
    for module, _, line in imports(MODULES[where]):
        target = package_of(module)
        if target in ALL:
            assert target in allowed, f"{where}:{line} imports {module} ({own} -> {target})"


@pytest.mark.parametrize("where", sorted(MODULES))
def test_no_private_name_is_imported_from_another_module(where):
    for module, names, line in imports(MODULES[where]):
        if package_of(module) in ALL:
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{where}:{line} imports private {private} from {module}"


def test_no_circle_between_modules():
    graph: dict[str, set[str]] = {}
    by_module = {
        where.removesuffix(".py").removesuffix("/__init__").replace("/", "."): where
        for where in MODULES
    }
    for name, where in by_module.items():
        targets = set()
        for module, names, _ in imports(MODULES[where]):
            # every name: ``from storage import audit, db`` reaches both modules
            submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in by_module]
            for candidate in submodules or [module]:
                if candidate in by_module and candidate != name:
                    targets.add(candidate)
        graph[name] = targets
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            circle = trail[trail.index(node) :] + [node]
            # A package's __init__ importing its own modules, which import one another, is
            # the package, not a circle; any other loop through an __init__ is one.
            if not all(m == circle[0] or m.startswith(circle[0] + ".") for m in circle):
                raise AssertionError("import circle: " + " -> ".join(circle))
            return
        if node in done:
            return
        for nxt in graph[node]:
            visit(nxt, [*trail, node])
        done.add(node)

    for node in graph:
        visit(node, [])


def test_the_dashboard_never_imports_the_sidecar_or_the_sandbox():
    for where, path in MODULES.items():
        if where.startswith("dashboard/"):
            for module, _, line in imports(path):
                assert package_of(module) not in ("sidecar", "sandbox"), f"{where}:{line}"


def _attribute_reads(path: Path, owner: str, attribute: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr == attribute
        and isinstance(node.value, ast.Name)
        and node.value.id == owner
    ]


def test_only_settings_reads_the_environment():
    for where, path in MODULES.items():
        if where == "offload_console/settings.py":
            continue
        for attribute in ("environ", "getenv", "environb"):
            lines = _attribute_reads(path, "os", attribute)
            assert not lines, f"{where}:{lines} reads os.{attribute}; use offload_console.settings"
        for module, names, line in imports(path):
            taken = {"environ", "getenv", "environb"} & set(names)
            assert not (module == "os" and taken), f"{where}:{line} imports os.{taken}"


PAGE_LOGIC = [
    where for where in MODULES if where.startswith("dashboard/") and where.endswith("_view.py")
]


@pytest.mark.parametrize("where", PAGE_LOGIC)
def test_page_logic_modules_are_free_of_streamlit(where):
    """``dashboard/*_view.py`` hold what the pages compute, tested without Streamlit."""
    for module, _, line in imports(MODULES[where]):
        assert package_of(module) != "streamlit", f"{where}:{line} imports {module}"


def test_sqlite3_stays_inside_storage():
    """Outside storage, code catches storage.StorageError, never a sqlite3 type."""
    for where, path in MODULES.items():
        if where.startswith("storage/"):
            continue
        for module, _, line in imports(path):
            assert module != "sqlite3", f"{where}:{line} imports sqlite3"


def test_nothing_writes_to_the_environment_it_reads():
    """Issue 30: settings are read, never written back (a child is handed its environment;
    a command that talks to a running `up` gets its addresses as values)."""
    offenders = []
    for where, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            target = None
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                target = next((t for t in targets if isinstance(t, ast.Subscript)), None)
                target = target.value if target is not None else None
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("update", "setdefault", "pop", "clear", "__setitem__"):
                    target = node.func.value
            if target is not None and ast.unparse(target) in ("os.environ", "environ"):
                offenders.append(f"{where}:{node.lineno}")
    assert offenders == [], offenders


def test_the_dashboard_draws_text_and_tables_through_outside():
    """Issue 34, item 5: ``st.text`` and ``st.dataframe`` would obey a bidi override in
    outside text; the pages call ``dashboard.outside``'s, which show it. A column's or a
    container's ``.text(…)`` is the same call (``c3.text(detail)`` was missed once)."""
    offenders = []
    for where, path in MODULES.items():
        if not where.startswith("dashboard/") or where == "dashboard/outside.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("text", "dataframe")
                and ast.unparse(node.func.value) != "outside"
            ):
                offenders.append(f"{where}:{node.lineno} {ast.unparse(node.func)}")
    assert offenders == [], offenders


def test_nothing_reaches_into_uvicorns_protocol_modules():
    for where, path in MODULES.items():
        for module, _, line in imports(path):
            assert not module.startswith("uvicorn.protocols"), f"{where}:{line} imports {module}"


def test_the_walls_test_would_catch_an_upward_import(tmp_path):
    """The checks above are not vacuous: an upward import is seen."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from offload_console.settings import is_loopback\n")
    assert ("offload_console.settings", ["is_loopback"], 2) in imports(bad)
    os_read = tmp_path / "env.py"
    os_read.write_text("import os\nx = os.environ.get('A')\n")
    assert _attribute_reads(os_read, "os", "environ") == [2]


def test_relative_imports_and_os_names_are_read(tmp_path):
    """The holes issue 19 found, closed: a relative import is read as the module it names,
    and ``from os import environ`` is seen."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from ..sidecar import app\nfrom . import format, session\nfrom os import environ\n"
    )
    read = imports(probe, package=("dashboard",))
    assert ("sidecar", ["app"], 1) in read
    assert ("dashboard", ["format", "session"], 2) in read
    assert ("os", ["environ"], 3) in read
