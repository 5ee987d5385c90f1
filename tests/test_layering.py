"""The import rules of ARCHITECTURE.md §1, enforced by reading every module's imports with `ast`.

Each checker takes a root directory (the repository, or a scratch copy with a planted violation) and returns
the offending `path:line` findings, so every rule is tested both against the real code and against a file
that breaks it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "common", "node", "central", "provisioning", "simulate")

# What `protocol` may depend on besides the standard library and itself.
PROTOCOL_THIRD_PARTY = frozenset({"cryptography"})
# The single deferred reach from the `onewindow` entry point into both deployables.
PROVISIONING_CLI = "provisioning/cli.py"
PROVISIONING_CLI_MAY_IMPORT = frozenset({"node.cli", "central.cli", "simulate.cli"})


@dataclass(frozen=True)
class Import:
    """One imported module name as written (relative imports resolved), where it appears."""

    module: str
    line: int
    path: str  # repository-relative, forward slashes

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def under(self, package: str) -> bool:
        return self.module == package or self.module.startswith(package + ".")

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def iter_modules(root: Path) -> Iterator[tuple[str, Path]]:
    """(repository-relative path, file) for every .py file of the four packages under `root`."""
    for package in PACKAGES:
        base = root / package
        if not base.is_dir():
            continue
        for file in sorted(base.rglob("*.py")):
            yield file.relative_to(root).as_posix(), file


def _module_name(rel: str) -> tuple[str, bool]:
    """Dotted module name of a repository-relative path, and whether it is a package `__init__`."""
    parts = list(PurePosixPath(rel).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _resolve_relative(rel: str, level: int, module: str | None) -> str:
    name, is_package = _module_name(rel)
    parts = name.split(".")
    if not is_package:
        parts.pop()  # a plain module's imports are relative to its package
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, *([module] if module else [])])


def _is_import_module_call(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Attribute):
        return (
            func.attr == "import_module" and isinstance(func.value, ast.Name) and func.value.id == "importlib"
        )
    return isinstance(func, ast.Name) and func.id in ("import_module", "__import__")


def imports_of(rel: str, file: Path) -> list[Import]:
    """Every import in a module, at any depth: `import x`, `from x import y` (as x.y), and
    `importlib.import_module("x")` / `__import__("x")` with a literal string."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno, rel) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(rel, node.level, node.module)
            for alias in node.names:
                # `from x import y` may name a submodule; recording x.y keeps e.g. `from central import app`
                # distinguishable from `from central import county`. Prefix rules still see `x`.
                name = base if alias.name == "*" else f"{base}.{alias.name}"
                found.append(Import(name.strip("."), node.lineno, rel))
        elif isinstance(node, ast.Call) and _is_import_module_call(node):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                target = node.args[0].value
                if target.startswith("."):
                    package_arg = node.args[1] if len(node.args) > 1 else None
                    anchor = package_arg.value if isinstance(package_arg, ast.Constant) else ""
                    target = f"{anchor}{target}"
                found.append(Import(target, node.lineno, rel))
    return sorted(found, key=lambda i: i.line)


def all_imports(root: Path) -> Iterator[Import]:
    for rel, file in iter_modules(root):
        yield from imports_of(rel, file)


def _filename(path: str) -> str:
    return PurePosixPath(path).name


def is_web_module(path: str) -> bool:
    """Route/app modules, and the web chrome both apps share (`common/web/`): the only ones allowed to import
    litestar."""
    name = _filename(path)
    return (
        name in ("app.py", "routes.py", "web.py")
        or name.endswith("_routes.py")
        or path.startswith("common/web/")
    )


def _is_web_module_name(module: str) -> bool:
    return any(part in ("app", "routes", "web") or part.endswith("_routes") for part in module.split(".")[1:])


# ---- checkers ------------------------------------------------------------------------------------------------


def check_protocol_imports(root: Path) -> list[str]:
    """`protocol` imports only the standard library, `cryptography` and itself."""
    return [
        str(i)
        for i in all_imports(root)
        if i.path.startswith("protocol/")
        and i.top not in sys.stdlib_module_names
        and i.top not in PROTOCOL_THIRD_PARTY
        and i.top != "protocol"
    ]


def check_node_central_separation(root: Path) -> list[str]:
    """`node` never imports `central`, and `central` never imports `node`."""
    return [
        str(i)
        for i in all_imports(root)
        if (i.path.startswith("node/") and i.under("central"))
        or (i.path.startswith("central/") and i.under("node"))
    ]


def check_litestar_only_in_web_modules(root: Path) -> list[str]:
    """Only app.py, routes.py, *_routes.py and web.py import litestar."""
    return [str(i) for i in all_imports(root) if i.under("litestar") and not is_web_module(i.path)]


def check_common_imports(root: Path) -> list[str]:
    """`common` (what both apps share) never imports `node`, `central` or `provisioning`."""
    return [
        str(i)
        for i in all_imports(root)
        if i.path.startswith("common/")
        and (i.under("node") or i.under("central") or i.under("provisioning") or i.under("simulate"))
    ]


def check_simulate_imports(root: Path) -> list[str]:
    """`simulate` (the county day's driver) plays the tablets, browsers and courier of a day: it talks to node
    and central over HTTP and their CLIs only, so it never imports `node` or `central`; of `provisioning` it uses
    the county's provisioning, never the `onewindow` entry point; nothing but that entry point imports it."""
    offenders = []
    for i in all_imports(root):
        if i.path.startswith("simulate/") and (
            i.under("node") or i.under("central") or i.under("provisioning.cli") or i.under("tests")
        ):
            offenders.append(str(i))
        elif not i.path.startswith("simulate/") and i.path != PROVISIONING_CLI and i.under("simulate"):
            offenders.append(str(i))
    return offenders


#: The one module that may call the PDF engine's synchronous `render_pdf`: the worker door, off the event loop.
RENDER_DOOR = "common/documents/render.py"


def check_rendering_only_through_the_worker(root: Path) -> list[str]:
    """Official documents render only in the worker process (`common.documents.render.render_document`): no
    other module imports the engine's synchronous `render_pdf`, which would run it on the event loop."""
    return [
        str(i)
        for i in all_imports(root)
        if i.module == "common.documents.pdf.render_pdf" and i.path != RENDER_DOOR
    ]


def check_usb_only_in_devices(root: Path) -> list[str]:
    """Only modules under node/devices/ import usb (pyusb)."""
    return [str(i) for i in all_imports(root) if i.under("usb") and not i.path.startswith("node/devices/")]


def check_watchfiles_only_in_watcher(root: Path) -> list[str]:
    """Only a module named watcher.py imports watchfiles."""
    return [str(i) for i in all_imports(root) if i.under("watchfiles") and _filename(i.path) != "watcher.py"]


def check_provisioning_imports(root: Path) -> list[str]:
    """`provisioning` reaches into the project only through `protocol`, itself and central's service layer
    (not its app, routes, web or cli modules); provisioning/cli.py alone may also load node.cli and
    central.cli."""
    offenders = []
    for i in all_imports(root):
        if not i.path.startswith("provisioning/"):
            continue
        if i.path == PROVISIONING_CLI and i.module in PROVISIONING_CLI_MAY_IMPORT:
            continue
        if i.under("node"):
            offenders.append(str(i))
        elif i.under("central") and (
            i.module == "central" or _is_web_module_name(i.module) or i.under("central.cli")
        ):
            offenders.append(str(i))
    return offenders


def check_module_docstrings(root: Path) -> list[str]:
    """Every module starts with a docstring saying what it owns (STYLE.md habit 7); migration revisions
    are generated and exempt."""
    offenders = []
    for rel, file in iter_modules(root):
        if "/migrations/versions/" in rel:
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        if ast.get_docstring(tree) is None:
            offenders.append(f"{rel}:1 has no module docstring")
    return offenders


def _report(rule: str, offenders: list[str]) -> str:
    return f"{rule} — {len(offenders)} violation(s):\n  " + "\n  ".join(offenders)


# ---- the rules, on the real code ---------------------------------------------------------------------------


def test_the_checkers_see_the_real_packages() -> None:
    """Guard against a vacuous pass: the scan finds the packages and some of their known imports."""
    modules = dict(iter_modules(ROOT))
    assert {"protocol/keys.py", "node/app.py", "central/app.py", "provisioning/cli.py"} <= modules.keys()
    cli_imports = {i.module for i in imports_of(PROVISIONING_CLI, modules[PROVISIONING_CLI])}
    assert PROVISIONING_CLI_MAY_IMPORT <= cli_imports
    assert any(i.under("litestar") for i in imports_of("node/app.py", modules["node/app.py"]))


def test_protocol_imports_only_stdlib_cryptography_and_itself() -> None:
    offenders = check_protocol_imports(ROOT)
    assert not offenders, _report("protocol may import only the stdlib, cryptography and protocol", offenders)


def test_node_and_central_never_import_each_other() -> None:
    offenders = check_node_central_separation(ROOT)
    assert not offenders, _report("node and central never import each other", offenders)


def test_only_route_and_app_modules_import_litestar() -> None:
    offenders = check_litestar_only_in_web_modules(ROOT)
    assert not offenders, _report(
        "only app.py, routes.py, *_routes.py and web.py may import litestar", offenders
    )


def test_common_never_imports_the_deployables() -> None:
    offenders = check_common_imports(ROOT)
    assert not offenders, _report("common may not import node, central or provisioning", offenders)


def test_simulate_talks_to_node_and_central_only_over_http() -> None:
    offenders = check_simulate_imports(ROOT)
    assert not offenders, _report(
        "simulate may import protocol, common and provisioning (not its cli)", offenders
    )


def test_documents_render_only_through_the_worker() -> None:
    offenders = check_rendering_only_through_the_worker(ROOT)
    assert not offenders, _report(f"only {RENDER_DOOR} may import render_pdf", offenders)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_in_any_package(package: str) -> None:
    """Across packages the rules above keep imports one-way (protocol ← common ← node | central ← provisioning);
    inside each, no module-level circle."""
    offenders = check_import_cycles(ROOT, package)
    assert not offenders, _report(f"no import cycle in {package}/", offenders)


def test_only_devices_import_usb() -> None:
    offenders = check_usb_only_in_devices(ROOT)
    assert not offenders, _report("only node/devices/ may import usb", offenders)


def test_only_the_watcher_imports_watchfiles() -> None:
    offenders = check_watchfiles_only_in_watcher(ROOT)
    assert not offenders, _report("only watcher.py may import watchfiles", offenders)


def test_provisioning_imports_only_protocol_and_central_services() -> None:
    offenders = check_provisioning_imports(ROOT)
    assert not offenders, _report(
        "provisioning may import protocol and central's non-web modules "
        "(provisioning/cli.py also node.cli and central.cli)",
        offenders,
    )


def test_every_module_starts_with_a_docstring() -> None:
    offenders = check_module_docstrings(ROOT)
    assert not offenders, _report("every module starts with a docstring (STYLE.md habit 7)", offenders)


# ---- each checker catches a planted violation, and leaves allowed imports alone ------------------------------


def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


Checker = Callable[[Path], list[str]]

VIOLATIONS: list[tuple[Checker, str, str, str]] = [
    # (checker, planted file, its text, the finding expected)
    (
        check_protocol_imports,
        "protocol/bad.py",
        '"""x."""\nimport litestar\n',
        "protocol/bad.py:2 imports litestar",
    ),
    (
        check_protocol_imports,
        "protocol/bad.py",
        '"""x."""\n\n\ndef f():\n    from sqlalchemy import select\n',
        "protocol/bad.py:5 imports sqlalchemy.select",
    ),
    (
        check_protocol_imports,
        "protocol/bad.py",
        '"""x."""\nimport importlib\nimportlib.import_module("httpx")\n',
        "protocol/bad.py:3 imports httpx",
    ),
    (
        check_protocol_imports,
        "protocol/bad.py",
        '"""x."""\nfrom node.runtime import NodeRuntime\n',
        "protocol/bad.py:2 imports node.runtime.NodeRuntime",
    ),
    (
        check_node_central_separation,
        "node/sync/bad.py",
        '"""x."""\nfrom central import ingest\n',
        "node/sync/bad.py:2 imports central.ingest",
    ),
    (
        check_node_central_separation,
        "central/bad.py",
        '"""x."""\n\n\ndef f():\n    import node.intake.service\n',
        "central/bad.py:5 imports node.intake.service",
    ),
    (
        check_litestar_only_in_web_modules,
        "node/intake/service.py",
        '"""x."""\nfrom litestar.exceptions import HTTPException\n',
        "node/intake/service.py:2 imports litestar.exceptions.HTTPException",
    ),
    (
        check_litestar_only_in_web_modules,
        "central/backoffice.py",
        '"""x."""\nfrom importlib import import_module\nimport_module("litestar")\n',
        "central/backoffice.py:3 imports litestar",
    ),
    (
        check_usb_only_in_devices,
        "node/sync/bad.py",
        '"""x."""\nimport usb.core\n',
        "node/sync/bad.py:2 imports usb.core",
    ),
    (
        check_common_imports,
        "common/web/bad.py",
        '"""x."""\nfrom node.web import runtime_of\n',
        "common/web/bad.py:2 imports node.web.runtime_of",
    ),
    (
        check_common_imports,
        "common/documents/bad.py",
        '"""x."""\n\n\ndef f():\n    import central.clock\n',
        "common/documents/bad.py:5 imports central.clock",
    ),
    (
        check_protocol_imports,
        "protocol/bad.py",
        '"""x."""\nfrom common.documents.pdf import OfficialDocument\n',
        "protocol/bad.py:2 imports common.documents.pdf.OfficialDocument",
    ),
    (
        check_rendering_only_through_the_worker,
        "node/archive/service.py",
        '"""x."""\nfrom common.documents.pdf import OfficialDocument, render_pdf\n',
        "node/archive/service.py:2 imports common.documents.pdf.render_pdf",
    ),
    (
        check_litestar_only_in_web_modules,
        "common/documents/bad.py",
        '"""x."""\nimport litestar\n',
        "common/documents/bad.py:2 imports litestar",
    ),
    (
        check_watchfiles_only_in_watcher,
        "node/devices/folder.py",
        '"""x."""\nfrom watchfiles import awatch\n',
        "node/devices/folder.py:2 imports watchfiles.awatch",
    ),
    (
        check_provisioning_imports,
        "provisioning/county.py",
        '"""x."""\nimport importlib\nimportlib.import_module("node.cli")\n',
        "provisioning/county.py:3 imports node.cli",
    ),
    (
        check_provisioning_imports,
        "provisioning/cli.py",
        '"""x."""\nimport importlib\nimportlib.import_module("node.app")\n',
        "provisioning/cli.py:3 imports node.app",
    ),
    (
        check_provisioning_imports,
        "provisioning/demo.py",
        '"""x."""\nfrom central.app import create_app\n',
        "provisioning/demo.py:2 imports central.app.create_app",
    ),
    (
        check_provisioning_imports,
        "provisioning/demo.py",
        '"""x."""\nfrom central import cli\n',
        "provisioning/demo.py:2 imports central.cli",
    ),
    (
        check_simulate_imports,
        "simulate/day.py",
        '"""x."""\nfrom node.intake.cases.receive import receive_case\n',
        "simulate/day.py:2 imports node.intake.cases.receive.receive_case",
    ),
    (
        check_simulate_imports,
        "simulate/stage.py",
        '"""x."""\nimport importlib\nimportlib.import_module("central.cli")\n',
        "simulate/stage.py:3 imports central.cli",
    ),
    (
        check_simulate_imports,
        "node/app.py",
        '"""x."""\nfrom simulate.plan import plan_day\n',
        "node/app.py:2 imports simulate.plan.plan_day",
    ),
    (check_module_docstrings, "node/bare.py", "import os\n", "node/bare.py:1 has no module docstring"),
    (check_module_docstrings, "protocol/__init__.py", "", "protocol/__init__.py:1 has no module docstring"),
]


@pytest.mark.parametrize(("checker", "rel", "text", "expected"), VIOLATIONS)
def test_checker_reports_a_planted_violation(
    tmp_path: Path, checker: Checker, rel: str, text: str, expected: str
) -> None:
    offenders = checker(_plant(tmp_path, {rel: text}))
    assert offenders == [expected]


ALLOWED: list[tuple[Checker, str, str]] = [
    (check_protocol_imports, "protocol/ok.py", '"""x."""\nimport json\nfrom cryptography import x509\n'),
    (
        check_protocol_imports,
        "protocol/ok.py",
        '"""x."""\nfrom __future__ import annotations\nfrom . import keys\n',
    ),
    (
        check_node_central_separation,
        "node/ok.py",
        '"""x."""\nfrom protocol import events\nimport centralized\n',
    ),
    (check_litestar_only_in_web_modules, "node/app.py", '"""x."""\nfrom litestar import Litestar\n'),
    (check_litestar_only_in_web_modules, "node/intake/routes.py", '"""x."""\nimport litestar\n'),
    (check_litestar_only_in_web_modules, "node/auth_routes.py", '"""x."""\nimport litestar\n'),
    (check_litestar_only_in_web_modules, "node/web.py", '"""x."""\nimport litestar\n'),
    (check_litestar_only_in_web_modules, "common/web/problems.py", '"""x."""\nimport litestar\n'),
    (check_common_imports, "common/web/ok.py", '"""x."""\nfrom protocol.errors import OneWindowError\n'),
    (
        check_rendering_only_through_the_worker,
        "common/documents/render.py",
        '"""x."""\nfrom common.documents.pdf import OfficialDocument, render_pdf\n',
    ),
    (
        check_rendering_only_through_the_worker,
        "node/intake/documents/notices.py",
        '"""x."""\nfrom common.documents.pdf import OfficialDocument\nfrom common.documents.render import render_document\n',
    ),
    (check_usb_only_in_devices, "node/devices/idcard.py", '"""x."""\nimport usb.core\n'),
    (check_watchfiles_only_in_watcher, "node/devices/watcher.py", '"""x."""\nimport watchfiles\n'),
    (
        check_provisioning_imports,
        "provisioning/cli.py",
        '"""x."""\nimport importlib\nimportlib.import_module("node.cli")\nimportlib.import_module("central.cli")\n',
    ),
    (
        check_provisioning_imports,
        "provisioning/county.py",
        '"""x."""\nfrom central.county import load_county\nfrom protocol.keys import SigningKey\n',
    ),
    (
        check_simulate_imports,
        "simulate/stage.py",
        '"""x."""\nimport httpx\nfrom common.clock import ClockSetting\nfrom provisioning.county import add_node\n',
    ),
    (
        check_simulate_imports,
        "provisioning/cli.py",
        '"""x."""\nimport importlib\nimportlib.import_module("simulate.cli")\n',
    ),
    (check_module_docstrings, "node/migrations/versions/0001_x.py", "import alembic\n"),
]


@pytest.mark.parametrize(("checker", "rel", "text"), ALLOWED)
def test_checker_leaves_allowed_imports_alone(tmp_path: Path, checker: Checker, rel: str, text: str) -> None:
    assert checker(_plant(tmp_path, {rel: text})) == []


def test_a_report_lists_every_offender(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "node/a.py": '"""x."""\nimport central\n',
            "node/b.py": '"""x."""\n\n\ndef f():\n    from central.ingest import ingest\n',
        },
    )
    offenders = check_node_central_separation(root)
    assert offenders == ["node/a.py:2 imports central", "node/b.py:5 imports central.ingest.ingest"]
    message = _report("rule", offenders)
    assert "node/a.py:2" in message and "node/b.py:5" in message


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "node/intake/routes.py": '"""x."""\nfrom ..sync import client\nfrom . import service\n',
            "node/sync/__init__.py": '"""x."""\nfrom .log import append\n',
        },
    )
    assert [i.module for i in imports_of("node/intake/routes.py", root / "node/intake/routes.py")] == [
        "node.sync.client",
        "node.intake.service",
    ]
    assert [i.module for i in imports_of("node/sync/__init__.py", root / "node/sync/__init__.py")] == [
        "node.sync.log.append"
    ]


# ---- node: no import cycle, thin routes, only app.py wires routes, the order of node's folders ---------------
#
# The order is written out in node/__init__.py's docstring; NODE_LAYERS is the same order as data.

#: Node's units from the bottom up: a service module may import its own unit and units of lower layers only.
#: Layer 1 is the shared base, whose modules may import one another (the cycle rule keeps that acyclic).
#: Everything not listed is the top: app, web, cli, boot, schema, enrolment, and every route module.
NODE_LAYERS: dict[str, int] = {
    "node.trust": 0,
    **dict.fromkeys(
        ("node.settings", "node.db", "node.models", "node.runtime", "node.blobs", "node.staff", "node.meta"),
        1,
    ),
    "node.events": 2,
    "node.sync": 3,
    "node.audit": 3,
    "node.intake.hall": 4,
    "node.intake.cases": 5,
    "node.intake.documents": 6,
    "node.intake.mail": 7,
    "node.archive": 8,
    "node.devices": 8,
}
NODE_BASE_LAYER = 1
NODE_APP = "node/app.py"
SQL_LIBRARIES = ("sqlmodel", "sqlalchemy")


def _is_route_module(path: str) -> bool:
    name = _filename(path)
    return name == "routes.py" or name.endswith("_routes.py")


def _is_route_module_name(module: str) -> bool:
    last = module.split(".")[-1]
    return last == "routes" or last.endswith("_routes")


def check_node_import_cycles(root: Path) -> list[str]:
    """No import cycle among node's modules at module level (a function-local import that hides one counts
    under the folder order instead)."""
    return check_import_cycles(root, "node")


def check_node_routes_run_no_sql(root: Path) -> list[str]:
    """Node's route modules (and app.py, web.py) never import sqlmodel or sqlalchemy, and never open a
    database session or run a statement: they call services."""
    offenders = []
    for rel, file in iter_modules(root):
        if not rel.startswith("node/") or not is_web_module(rel):
            continue
        offenders.extend(str(i) for i in imports_of(rel, file) if any(i.under(lib) for lib in SQL_LIBRARIES))
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner, method = node.func.value, node.func.attr
            opens_session = (
                method in ("read", "write") and isinstance(owner, ast.Attribute) and owner.attr == "db"
            )
            if opens_session or method in ("exec", "execute"):
                offenders.append(f"{rel}:{node.lineno} runs SQL ({method})")
    return sorted(offenders, key=lambda o: (o.split(":")[0], int(o.split(":")[1].split()[0])))


def check_only_node_app_imports_routes(root: Path) -> list[str]:
    """Only node/app.py imports node's route modules; shared helpers live in node/web.py or a service."""
    return [
        str(i)
        for i in all_imports(root)
        if i.path.startswith("node/")
        and i.path != NODE_APP
        and i.under("node")
        and any(_is_route_module_name(part) for part in i.module.split(".")[1:])
    ]


def _node_unit(module: str) -> str | None:
    """The unit of NODE_LAYERS a module belongs to (longest prefix), or None for the top."""
    found = [u for u in NODE_LAYERS if module == u or module.startswith(u + ".")]
    return max(found, key=len) if found else None


def check_node_folder_order(root: Path) -> list[str]:
    """A node service module imports (at any depth) only its own unit and the units below it in NODE_LAYERS,
    never a sibling unit of its layer nor the top (app, web, boot, route modules …)."""
    offenders = []
    for i in all_imports(root):
        if not i.path.startswith("node/") or is_web_module(i.path) or not i.under("node"):
            continue
        source = _node_unit(_module_name(i.path)[0])
        if source is None:
            continue  # the top may import anything below it
        target = _node_unit(i.module)
        if target == source:
            continue
        if target is not None and (
            NODE_LAYERS[target] < NODE_LAYERS[source]
            or NODE_LAYERS[target] == NODE_LAYERS[source] == NODE_BASE_LAYER
        ):
            continue
        offenders.append(str(i))
    return offenders


def test_node_routes_never_touch_the_database() -> None:
    offenders = check_node_routes_run_no_sql(ROOT)
    assert not offenders, _report(
        "node route modules import no sqlmodel/sqlalchemy and run no SQL", offenders
    )


def test_only_node_app_imports_node_route_modules() -> None:
    offenders = check_only_node_app_imports_routes(ROOT)
    assert not offenders, _report("only node/app.py imports node route modules", offenders)


def test_node_folders_import_only_downwards() -> None:
    offenders = check_node_folder_order(ROOT)
    assert not offenders, _report("node's folders import only the layers below them (NODE_LAYERS)", offenders)


def _unit_path(unit: str) -> str:
    """How node/__init__.py names a unit: a folder as ``sync/``, a module as ``events.py``."""
    path = unit.removeprefix("node.").replace(".", "/")
    return f"{path}/" if (ROOT / "node" / path).is_dir() else f"{path}.py"


def test_the_node_order_is_the_documented_one() -> None:
    """node/__init__.py's docstring names every unit above the base, in NODE_LAYERS' order."""
    import node

    doc = node.__doc__ or ""
    units = [u for u in NODE_LAYERS if NODE_LAYERS[u] != NODE_BASE_LAYER]
    where = {u: doc.find(_unit_path(u)) for u in units}
    assert all(p >= 0 for p in where.values()), where
    layers = [NODE_LAYERS[u] for u in sorted(units, key=where.__getitem__)]
    assert layers == sorted(layers), "node/__init__.py lists the units out of NODE_LAYERS' order"


NODE_VIOLATIONS: list[tuple[Checker, dict[str, str], list[str]]] = [
    # (checker, planted files, the findings expected)
    (
        check_node_import_cycles,
        {
            "node/models.py": '"""x."""\nfrom node.devices import models as device_models\n',
            "node/devices/models.py": '"""x."""\nfrom node.models import NodeTable\n',
        },
        ["import cycle: node/devices/models.py → node/models.py → node/devices/models.py"],
    ),
    (
        check_node_routes_run_no_sql,
        {"node/intake/mail/routes.py": '"""x."""\nfrom sqlalchemy import func\n'},
        ["node/intake/mail/routes.py:2 imports sqlalchemy.func"],
    ),
    (
        check_node_routes_run_no_sql,
        {
            "node/sync/routes.py": '"""x."""\n\n\nasync def page(runtime):\n'
            "    async with runtime.db.read() as session:\n        return await session.exec(q)\n"
        },
        ["node/sync/routes.py:5 runs SQL (read)", "node/sync/routes.py:6 runs SQL (exec)"],
    ),
    (
        check_only_node_app_imports_routes,
        {"node/devices/routes.py": '"""x."""\nfrom node.intake.cases.routes import actor_of\n'},
        ["node/devices/routes.py:2 imports node.intake.cases.routes.actor_of"],
    ),
    (
        check_only_node_app_imports_routes,
        {"node/intake/mail/routes.py": '"""x."""\nfrom node.intake.hall import ticket_routes\n'},
        ["node/intake/mail/routes.py:2 imports node.intake.hall.ticket_routes"],
    ),
    (
        check_node_folder_order,
        {
            "node/intake/cases/receive.py": '"""x."""\nfrom node.sync.log import seal_pending\nfrom node.intake.mail.parcels import get_row\n'
        },
        ["node/intake/cases/receive.py:3 imports node.intake.mail.parcels.get_row"],
    ),
    (
        check_node_folder_order,
        {"node/events.py": '"""x."""\n\n\ndef f():\n    from node.sync.log import seal_pending\n'},
        ["node/events.py:5 imports node.sync.log.seal_pending"],
    ),
    (
        check_node_folder_order,
        {"node/archive/service.py": '"""x."""\nfrom node.devices.cards import card_fields\n'},
        ["node/archive/service.py:2 imports node.devices.cards.card_fields"],
    ),
    (
        check_node_folder_order,
        {"node/runtime.py": '"""x."""\nfrom node.boot import open_runtime\n'},
        ["node/runtime.py:2 imports node.boot.open_runtime"],
    ),
]


@pytest.mark.parametrize(("checker", "files", "expected"), NODE_VIOLATIONS)
def test_node_checker_reports_a_planted_violation(
    tmp_path: Path, checker: Checker, files: dict[str, str], expected: list[str]
) -> None:
    assert checker(_plant(tmp_path, files)) == expected


NODE_ALLOWED: list[tuple[Checker, dict[str, str]]] = [
    (
        check_node_import_cycles,
        {
            "node/runtime.py": '"""x."""\n\n\ndef f():\n    from node.boot import open_runtime\n',
            "node/boot.py": '"""x."""\nfrom node.runtime import NodeRuntime\n',
        },
    ),
    (check_node_routes_run_no_sql, {"node/auth_routes.py": '"""x."""\nsession.get("user")\n'}),
    (
        check_node_routes_run_no_sql,
        {"node/intake/cases/receive.py": '"""x."""\nfrom sqlmodel import select\n'},
    ),
    (check_only_node_app_imports_routes, {"node/app.py": '"""x."""\nfrom node.intake.mail import routes\n'}),
    (
        check_only_node_app_imports_routes,
        {"node/devices/routes.py": '"""x."""\nfrom node.web import window_name\n'},
    ),
    (
        check_node_folder_order,
        {"node/intake/mail/parcels.py": '"""x."""\nfrom node.intake.cases.receive import receive_case\n'},
    ),
    (
        check_node_folder_order,
        {"node/intake/cases/routes.py": '"""x."""\nfrom node.intake.documents import notices\n'},
    ),
    (check_node_folder_order, {"node/staff.py": '"""x."""\nfrom node.runtime import NodeRuntime\n'}),
    (check_node_folder_order, {"node/boot.py": '"""x."""\nfrom node.sync.log import seal_pending\n'}),
]


@pytest.mark.parametrize(("checker", "files"), NODE_ALLOWED)
def test_node_checker_leaves_allowed_imports_alone(
    tmp_path: Path, checker: Checker, files: dict[str, str]
) -> None:
    assert checker(_plant(tmp_path, files)) == []


# ---- central's layout (issue 16): no import cycle, thin routes, one importer of routes, the folder order -------
#
# The order and its reasons are written in central/__init__.py. A module in one of central's folders may import
# its own folder, central's root base modules, and the folders its entry names; a root base module imports no
# folder; only the root top modules (the app, the CLI) may import anything of central.

CENTRAL_ORDER = ("audit", "cases", "archive", "sync", "catalogue", "county", "hall", "backoffice")
CENTRAL_MAY_IMPORT: dict[str, frozenset[str]] = {
    "migrations": frozenset(),
    "audit": frozenset(),
    "cases": frozenset(),
    "archive": frozenset({"cases"}),
    "sync": frozenset({"cases", "archive"}),
    "catalogue": frozenset(),
    "county": frozenset({"cases", "sync", "catalogue"}),
    "hall": frozenset({"cases"}),
    "backoffice": frozenset({"cases", "catalogue"}),
}
CENTRAL_TOP = frozenset({"central/app.py", "central/cli.py", "central/__main__.py"})
CENTRAL_APP = "central/app.py"


def _central_folder(module: str, root: Path) -> str | None:
    """The folder of central a dotted module name is in (None: a root module, or not central's)."""
    parts = module.split(".")
    if parts[0] != "central" or len(parts) < 2:
        return None
    return parts[1] if (root / "central" / parts[1]).is_dir() else None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(rel: str, file: Path) -> list[Import]:
    """The imports a module runs when it is imported: not those inside functions, nor under TYPE_CHECKING."""
    found: list[Import] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno, rel) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(rel, node.level, node.module) if node.level else node.module or ""
            for alias in node.names:
                name = base if alias.name == "*" else f"{base}.{alias.name}"
                found.append(Import(name.strip("."), node.lineno, rel))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(file.read_text(encoding="utf-8"), filename=str(file)))
    return found


def check_import_cycles(root: Path, package: str = "central") -> list[str]:
    """No circle of module-level imports inside `package` (importing a module also imports its packages, but
    not its own enclosing packages: they are initialised before it, so a package `__init__` that re-exports its
    submodules is no circle)."""
    files = {
        _module_name(rel)[0]: (rel, file) for rel, file in iter_modules(root) if rel.startswith(package + "/")
    }
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, (rel, file) in files.items():
        for imported in module_level_imports(rel, file):
            parts = imported.module.split(".")
            for end in range(
                len(parts), 0, -1
            ):  # the module itself (a name it imports is dropped) and its packages
                target = ".".join(parts[:end])
                if target in files and target != name and not name.startswith(target + "."):
                    edges[name].add(target)
    cycles: list[str] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def strongly_connect(name: str) -> None:  # Tarjan
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(edges[name]):
            if target not in index:
                strongly_connect(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == name:
                    break
            if len(members) > 1:
                cycles.append(_cycle_path(sorted(members), edges, files))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(files) + 100))
    for name in sorted(files):
        if name not in index:
            strongly_connect(name)
    return sorted(cycles)


def _cycle_path(members: list[str], edges: dict[str, set[str]], files: dict[str, tuple[str, Path]]) -> str:
    """One circle through the first member of a strongly connected set, as file paths."""
    start, inside = members[0], set(members)
    paths = {start: [start]}
    queue = [start]
    while queue:
        name = queue.pop(0)
        for target in sorted(edges[name] & inside):
            if target == start:
                circle = [*paths[name], start]
                return "import cycle: " + " → ".join(files[m][0] for m in circle)
            if target not in paths:
                paths[target] = [*paths[name], target]
                queue.append(target)
    return "import cycle: " + ", ".join(files[m][0] for m in members)  # unreachable for a true cycle


def check_central_routes_run_no_sql(root: Path) -> list[str]:
    """Central's route modules (and app.py, web.py) never import sqlmodel or sqlalchemy: queries are services'."""
    return [
        str(i)
        for i in all_imports(root)
        if i.path.startswith("central/")
        and is_web_module(i.path)
        and (i.under("sqlmodel") or i.under("sqlalchemy"))
    ]


def _names_a_central_route_module(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "central" and any(p == "routes" or p.endswith("_routes") for p in parts[1:])


def check_only_central_app_imports_routes(root: Path) -> list[str]:
    """Only central/app.py imports central's route modules (it wires them; nothing else reaches into them)."""
    return [
        str(i) for i in all_imports(root) if _names_a_central_route_module(i.module) and i.path != CENTRAL_APP
    ]


def check_central_folder_order(root: Path) -> list[str]:
    """Each of central's folders imports only its own, the root base modules and the folders
    `CENTRAL_MAY_IMPORT` gives it; a root base module imports no folder; a folder not in the order is reported."""
    offenders = []
    for i in all_imports(root):
        if not i.path.startswith("central/") or i.path in CENTRAL_TOP:
            continue
        source = _central_folder(_module_name(i.path)[0], root)
        target = _central_folder(i.module, root)
        if source is not None and source not in CENTRAL_MAY_IMPORT:
            offenders.append(f"{i.path}:1 is in central/{source}/, a folder not in the order")
            continue
        if target is None or target == source:
            continue
        if source is None or target not in CENTRAL_MAY_IMPORT[source]:
            offenders.append(f"{i} (central/{source or '*.py'} may not import central/{target}/)")
    return sorted(set(offenders), key=offenders.index)


def test_no_import_cycle_in_central() -> None:
    offenders = check_import_cycles(ROOT)
    assert not offenders, _report("no module-level import cycle in central/", offenders)


def test_central_routes_import_no_sql() -> None:
    offenders = check_central_routes_run_no_sql(ROOT)
    assert not offenders, _report("central's route modules never import sqlmodel or sqlalchemy", offenders)


def test_only_central_app_imports_central_routes() -> None:
    offenders = check_only_central_app_imports_routes(ROOT)
    assert not offenders, _report("only central/app.py imports central's route modules", offenders)


def test_central_folders_keep_their_order() -> None:
    offenders = check_central_folder_order(ROOT)
    assert not offenders, _report("central's folders import only the folders below them", offenders)


def test_the_central_order_is_the_real_tree_and_a_dag() -> None:
    """Guard against a vacuous pass: every folder of central is in the order (and only those), each may import only
    folders listed before it, and the real code has route modules that app.py imports."""
    folders = {p.name for p in (ROOT / "central").iterdir() if p.is_dir() and any(p.rglob("*.py"))}
    assert folders == set(CENTRAL_MAY_IMPORT)
    assert set(CENTRAL_ORDER) == set(CENTRAL_MAY_IMPORT) - {"migrations"}
    for folder, allowed in CENTRAL_MAY_IMPORT.items():
        if folder != "migrations":
            assert all(CENTRAL_ORDER.index(a) < CENTRAL_ORDER.index(folder) for a in allowed), folder
    modules = dict(iter_modules(ROOT))
    app_imports = {i.module for i in imports_of(CENTRAL_APP, modules[CENTRAL_APP])}
    assert sum(_names_a_central_route_module(m) for m in app_imports) >= len(CENTRAL_ORDER)
    assert any(
        _central_folder(i.module, ROOT) == "cases"
        for i in all_imports(ROOT)
        if i.path.startswith("central/sync/")
    )


CENTRAL_VIOLATIONS: list[tuple[Checker, dict[str, str], list[str]]] = [
    # (checker, planted files, the findings expected)
    (
        check_import_cycles,
        {
            "central/a.py": '"""x."""\nfrom central.b import thing\n',
            "central/b.py": '"""x."""\nimport central.a\n',
        },
        ["import cycle: central/a.py → central/b.py → central/a.py"],
    ),
    (
        check_import_cycles,
        {
            "central/__init__.py": '"""x."""\n',
            "central/cases/__init__.py": '"""x."""\nfrom central.cases.store import x\n',
            "central/cases/store.py": '"""x."""\nfrom central.sync.ingest import y\n',
            "central/sync/__init__.py": '"""x."""\n',
            "central/sync/ingest.py": '"""x."""\nfrom central.cases import bulk\n',
        },
        [
            "import cycle: central/cases/__init__.py → central/cases/store.py → central/sync/ingest.py → central/cases/__init__.py"
        ],
    ),
    (
        check_central_routes_run_no_sql,
        {"central/hall/routes.py": '"""x."""\nfrom sqlmodel import select\n'},
        ["central/hall/routes.py:2 imports sqlmodel.select"],
    ),
    (
        check_central_routes_run_no_sql,
        {"central/county/staff_routes.py": '"""x."""\n\n\ndef f():\n    import sqlalchemy\n'},
        ["central/county/staff_routes.py:5 imports sqlalchemy"],
    ),
    (
        check_only_central_app_imports_routes,
        {"central/backoffice/work_routes.py": '"""x."""\nfrom central.hall.routes import ROUTES\n'},
        ["central/backoffice/work_routes.py:2 imports central.hall.routes.ROUTES"],
    ),
    (
        check_only_central_app_imports_routes,
        {"central/cli.py": '"""x."""\nfrom central.sync import routes\n'},
        ["central/cli.py:2 imports central.sync.routes"],
    ),
    (
        check_central_folder_order,
        {
            "central/cases/store.py": '"""x."""\nfrom central.backoffice.workflow import decide_case\n',
            "central/backoffice/x.py": "",
        },
        [
            "central/cases/store.py:2 imports central.backoffice.workflow.decide_case"
            " (central/cases may not import central/backoffice/)"
        ],
    ),
    (
        check_central_folder_order,
        {
            "central/models.py": '"""x."""\n\n\ndef f():\n    from central.sync import ingest\n',
            "central/sync/ingest.py": "",
        },
        ["central/models.py:5 imports central.sync.ingest (central/*.py may not import central/sync/)"],
    ),
    (
        check_central_folder_order,
        {"central/reports/summary.py": '"""x."""\nfrom central.models import CaseRecord\n'},
        ["central/reports/summary.py:1 is in central/reports/, a folder not in the order"],
    ),
]


@pytest.mark.parametrize(("checker", "files", "expected"), CENTRAL_VIOLATIONS)
def test_central_checker_reports_a_planted_violation(
    tmp_path: Path, checker: Checker, files: dict[str, str], expected: list[str]
) -> None:
    assert checker(_plant(tmp_path, files)) == expected


CENTRAL_ALLOWED: list[tuple[Checker, dict[str, str]]] = [
    (
        check_import_cycles,
        {
            "central/a.py": '"""x."""\nfrom central.b import thing\n',
            "central/b.py": '"""x."""\n\n\ndef f():\n    import central.a\n',  # deferred: not a module-level circle
        },
    ),
    (
        check_import_cycles,
        {
            "central/a.py": '"""x."""\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from central.b import B\n',
            "central/b.py": '"""x."""\nimport central.a\n',
        },
    ),
    (
        check_central_routes_run_no_sql,
        {"central/hall/logistics.py": '"""x."""\nfrom sqlmodel import select\n'},
    ),
    (
        check_only_central_app_imports_routes,
        {"central/app.py": '"""x."""\nfrom central.sync import routes\n'},
    ),
    (
        check_central_folder_order,
        {
            "central/sync/ingest.py": '"""x."""\nfrom central.cases.store import store_event\nfrom central import clock\n',
            "central/cases/store.py": "",
            "central/app.py": '"""x."""\nfrom central.backoffice import work_routes\n',
            "central/backoffice/work_routes.py": "",
        },
    ),
]


@pytest.mark.parametrize(("checker", "files"), CENTRAL_ALLOWED)
def test_central_checker_leaves_allowed_imports_alone(
    tmp_path: Path, checker: Checker, files: dict[str, str]
) -> None:
    assert checker(_plant(tmp_path, files)) == []
