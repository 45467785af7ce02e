"""The layer rules, read from the source (``ast``): every import of ``otcore``, ``ui``, ``pages``
and ``app.py`` (module level, inside functions and under ``TYPE_CHECKING`` alike) points down.

    pages, app.py  →  ui, otcore.cli  →  otcore.service (+ bench)  →  otcore.jobs
      →  otcore.methods  →  otcore.ot / store / video / formats / metrics / viz / review
      →  otcore.types / settings / paths / device

* An import may go to its own package or to any lower floor, never up, never sideways to
  another package on the same floor (the bottom floor excepted: its modules are leaves).
* ``otcore.ot`` and ``otcore.metrics`` import nothing else of otcore but ``otcore.types``;
  ``otcore.formats`` nothing of the store.
* ``ui`` and ``pages`` reach jobs through ``otcore.service`` only; ``otcore`` never imports
  Streamlit, ``ui`` or ``pages``.
* Nobody imports another package's private names (``_name``) or private modules.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: floor of each package (higher imports lower)
FLOORS: dict[str, int] = {
    "pages": 7,
    "ui": 6,
    "otcore.service": 5,
    "otcore.cli": 6,  # the console script: dispatches to service verbs and evaluations
    "otcore.__main__": 7,  # `python -m otcore`: the entry point above the CLI
    "otcore.bench": 5,
    "otcore.jobs": 4,
    "otcore.methods": 3,
    "otcore.ot": 2,
    "otcore.store": 2,
    "otcore.video": 2,
    "otcore.formats": 2,
    "otcore.metrics": 2,
    "otcore.viz": 2,
    "otcore.review": 2,
    "otcore": 1,  # the package itself: re-exports otcore.types
    "otcore.types": 1,
    "otcore.settings": 1,
    "otcore.paths": 1,
    "otcore.device": 1,
}
BOTTOM = 1

#: Known arrows that are being moved, each with its reason. Keep this short.
ALLOWED: set[tuple[str, str]] = {
    # The segmentation evaluation reads helpers of the unsupervised methods from their private
    # module; they are to be exported by otcore.methods.
    ("otcore.bench.segment", "otcore.methods._unsup"),
}


@dataclass(frozen=True)
class Arrow:
    src: str  # importing module
    dst: str  # imported module
    names: tuple[str, ...]
    where: str  # file:line


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts == ["app"]:
        return "pages.app"
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> list[Path]:
    files = sorted((REPO / "otcore").rglob("*.py")) + sorted((REPO / "ui").rglob("*.py"))
    files += sorted((REPO / "pages").rglob("*.py")) + [REPO / "app.py"]
    return [f for f in files if "migrations" not in f.parts]


def _arrows() -> list[Arrow]:
    out = []
    for path in _sources():
        src = _module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                out += [Arrow(src, a.name, (), where) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out.append(Arrow(src, node.module, tuple(a.name for a in node.names), where))
    return out


def _package(module: str) -> str | None:
    """The entry of FLOORS a module belongs to (longest prefix), None outside the project."""
    best = None
    for pkg in FLOORS:
        if (module == pkg or module.startswith(pkg + ".")) and (best is None or len(pkg) > len(best)):
            best = pkg
    return best


ARROWS = _arrows()


def _project_arrows() -> list[tuple[Arrow, str, str]]:
    out = []
    for a in ARROWS:
        src_pkg, dst_pkg = _package(a.src), _package(a.dst)
        if src_pkg is None or dst_pkg is None:
            continue
        out.append((a, src_pkg, dst_pkg))
    return out


def _allowed(a: Arrow, dst_pkg: str) -> bool:
    return any(a.src == s and (a.dst == d or dst_pkg == d) for s, d in ALLOWED)


def test_the_scan_sees_the_project() -> None:
    srcs = {a.src for a in ARROWS}
    assert {"otcore.jobs.fewshot", "otcore.service.jobs", "ui.inspect_phases", "pages.train"} <= srcs
    assert any(a.src == "otcore.jobs.worker" and a.dst.startswith("otcore.jobs") for a in ARROWS)


def test_arrows_point_down() -> None:
    bad = []
    for a, src_pkg, dst_pkg in _project_arrows():
        if src_pkg == dst_pkg or _allowed(a, dst_pkg):
            continue
        up, down = FLOORS[src_pkg], FLOORS[dst_pkg]
        if down > up or (down == up and up != BOTTOM):
            bad.append(f"{a.where}: {a.src} (floor {up}) imports {a.dst} (floor {down})")
    assert not bad, "imports that point up or sideways:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("package", "may_import"),
    [
        ("otcore.ot", {"otcore.ot", "otcore.types"}),
        ("otcore.metrics", {"otcore.metrics", "otcore.types"}),
        ("otcore.formats", {"otcore.formats", "otcore.types", "otcore.settings", "otcore.paths"}),
    ],
)
def test_leaf_packages_stay_leaves(package: str, may_import: set[str]) -> None:
    bad = [
        f"{a.where}: {a.src} imports {a.dst}"
        for a, src_pkg, dst_pkg in _project_arrows()
        if src_pkg == package and dst_pkg not in may_import and not _allowed(a, dst_pkg)
    ]
    assert not bad, "\n".join(bad)


def test_ui_and_pages_reach_jobs_through_the_service_only() -> None:
    bad = [
        f"{a.where}: {a.src} imports {a.dst}"
        for a, src_pkg, dst_pkg in _project_arrows()
        if src_pkg in ("ui", "pages") and dst_pkg == "otcore.jobs"
    ]
    assert not bad, "\n".join(bad)


def test_jobs_never_import_the_service() -> None:
    bad = [
        a.where
        for a, src_pkg, dst_pkg in _project_arrows()
        if src_pkg == "otcore.jobs" and dst_pkg == "otcore.service"
    ]
    assert not bad, bad


def test_otcore_never_imports_the_app() -> None:
    bad = [
        f"{a.where}: {a.dst}"
        for a in ARROWS
        if a.src.split(".")[0] == "otcore" and a.dst.split(".")[0] in ("streamlit", "ui", "pages")
    ]
    assert not bad, "\n".join(bad)


def test_no_private_names_across_packages() -> None:
    bad = []
    for a, src_pkg, dst_pkg in _project_arrows():
        if src_pkg == dst_pkg or _allowed(a, dst_pkg):
            continue
        private_module = any(p.startswith("_") and not p.startswith("__") for p in a.dst.split("."))
        private_names = [n for n in a.names if n.startswith("_")]
        if private_module or private_names:
            bad.append(f"{a.where}: {a.src} imports {a.dst} {private_names or ''}")
    assert not bad, "private names used from another package:\n" + "\n".join(bad)
