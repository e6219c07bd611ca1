"""The house stays standing: pages are shells, modules and functions stay small, nobody uses
another module's private names, `core.cache` is core's one Streamlit import, imports flow
pages -> ui -> core, configs are keyword-only, and each page's widget keys carry its prefix.

Read from the source with `ast` (nothing is imported), except the key-prefix check, which
opens every page in AppTest and reads the keys of what it drew.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core import tools
from tests.helpers import open_page, widget_keys

ROOT = Path(__file__).resolve().parents[1]
MAX_PAGE_LINES = 80
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
LONG_MODULES = {"core/economics/costs.py"}  # the formula reference, one formula a function
HEAVY = ("torch", "transformers", "torchvision", "mlflow", "openai", "onnxruntime")


def sources(*folders: str) -> list[Path]:
    """The .py files under `folders`, relative to the repository root."""
    return sorted(p.relative_to(ROOT) for f in folders for p in (ROOT / f).rglob("*.py"))


def tree(path: Path) -> ast.Module:
    return ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=str(path))


def module_name(path: Path) -> str:
    """'core/vision/data.py' -> 'core.vision.data'; a package's __init__ -> the package."""
    parts = list(path.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(module: ast.Module, name: str) -> set[str]:
    """Every module `module` (called `name`) imports, as dotted names, including
    `from core import x` as 'core.x'."""
    found = set()
    package = name if (ROOT / name.replace(".", "/")).is_dir() else name.rpartition(".")[0]
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def top_level_imports(module: ast.Module, name: str) -> set[str]:
    """The modules imported when `module` is imported (not inside functions or TYPE_CHECKING)."""
    body = []
    for node in module.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        body.append(node)
    return imported_modules(ast.Module(body=body, type_ignores=[]), name)


CODE = sources("core", "ui", "pages") + [Path("app.py")]


@pytest.mark.parametrize("path", sources("pages"), ids=str)
def test_pages_are_shells(path):
    lines = len((ROOT / path).read_text().splitlines())
    assert lines <= MAX_PAGE_LINES, f"{path}: {lines} lines (a page is a shell: <= 80)"


@pytest.mark.parametrize("path", sources("core", "ui"), ids=str)
def test_modules_stay_small(path):
    if str(path) in LONG_MODULES:
        return
    lines = len((ROOT / path).read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path}: {lines} lines (at most {MAX_MODULE_LINES})"


@pytest.mark.parametrize("path", CODE, ids=str)
def test_functions_stay_short(path):
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


def private_names_defined(path: Path) -> set[str]:
    """The _private names `path` defines: functions, classes, assignments, attributes set."""
    names = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


OURS = {path: private_names_defined(path) for path in CODE}


@pytest.mark.parametrize("path", CODE, ids=str)
def test_no_module_uses_another_modules_private_names(path):
    mine = OURS[path]
    elsewhere = set().union(*(names for p, names in OURS.items() if p != path)) - mine
    used = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("core", "ui"):
            used += [f"import of {a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr in elsewhere:
            used.append(f"{ast.unparse(node)} (line {node.lineno})")
    assert not used, f"{path} uses private names of other modules: {', '.join(used)}"


@pytest.mark.parametrize("path", sources("core"), ids=str)
def test_core_imports_streamlit_only_in_cache(path):
    if str(path) == "core/cache.py":
        return
    found = imported_modules(tree(path), module_name(path))
    assert not any(m == "streamlit" or m.startswith("streamlit.") for m in found), path


@pytest.mark.parametrize("path", CODE, ids=str)
def test_imports_flow_pages_to_ui_to_core(path):
    found = imported_modules(tree(path), module_name(path))
    layer = path.parts[0]
    wrong = {
        "core": [m for m in found if m.split(".")[0] in ("ui", "pages")],
        "ui": [m for m in found if m.split(".")[0] == "pages"],
        "pages": [m for m in found if m.split(".")[0] == "pages"],
    }.get(layer, [])
    assert not wrong, f"{path} imports {wrong}"


TOOL_PACKAGES = ("core.vision", "core.text", "core.serving", "core.optim", "core.economics")
TOOL_PACKAGES += ("core.train", "core.runs", "core.compress")


def test_ui_package_never_imports_a_tool_package():
    for path in (Path("ui/__init__.py"), Path("ui/shell.py"), Path("ui/access.py")):
        found = top_level_imports(tree(path), module_name(path))
        tool = [m for m in found if m.startswith(TOOL_PACKAGES)]
        assert not tool, f"{path} imports {tool} when loaded: Home would load them"


def dataclass_keywords(node: ast.ClassDef) -> dict | None:
    """The keywords of the class's @dataclass decorator, or None when it is not one."""
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if ast.unparse(target).split(".")[-1] == "dataclass":
            calls = deco.keywords if isinstance(deco, ast.Call) else []
            return {k.arg: ast.unparse(k.value) for k in calls}
    return None


@pytest.mark.parametrize("path", sources("core", "ui"), ids=str)
def test_dataclasses_of_more_than_three_fields_are_keyword_only(path):
    loose = []
    for node in ast.walk(tree(path)):
        if not isinstance(node, ast.ClassDef) or (kw := dataclass_keywords(node)) is None:
            continue
        fields = [
            s
            for s in node.body
            if isinstance(s, ast.AnnAssign)
            and isinstance(s.target, ast.Name)
            and "ClassVar" not in ast.unparse(s.annotation)
        ]
        if len(fields) > 3 and kw.get("kw_only") != "True":
            loose.append(f"{node.name} ({len(fields)} fields)")
    assert not loose, f"{path}: dataclasses to make kw_only=True: {', '.join(loose)}"


PAGES = [(tools.HOME, tools.HOME_PREFIX)] + [(t.path, t.prefix) for t in tools.TOOLS]


@pytest.mark.parametrize(("page", "prefix"), PAGES, ids=[p for p, _ in PAGES])
def test_each_page_owns_one_widget_key_prefix(page, prefix):
    at = open_page(page)
    assert not at.exception
    main = [k for k in widget_keys(at.main) if not k.startswith(prefix)]
    side = [k for k in widget_keys(at.sidebar) if not k.startswith((tools.APP_PREFIX, prefix))]
    assert not main, f"{page}: keys without {prefix!r}: {main}"
    assert not side, f"{page}: sidebar keys without {tools.APP_PREFIX!r}: {side}"
