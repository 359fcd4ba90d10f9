"""The library's layout (lib/faceinpaint/methods/README.md): one folder per paper with the same
rooms, paper folders import the shared modules and never the reverse or each other, and the
module-level imports have no cycle. Read from the source with ``ast``, so nothing is imported."""
import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "lib" / "faceinpaint"
ROOMS = {"__init__", "config", "networks", "training", "inpainter", "experiments"}
OPTIONAL_ROOMS = {"losses", "layers"}  # a paper's own losses; the building blocks of long networks
# Front ends wire methods together for a user: they may import a paper's public names (lazily).
FRONT_ENDS = ("faceinpaint.cli", "faceinpaint.methods", "faceinpaint.app", "faceinpaint.widgets")


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PKG.rglob("*.py")}


def paper_folders() -> list[str]:
    """Folders of methods/ that are packages (a folder being written without __init__ is not one yet)."""
    return sorted(p.parent.name for p in (PKG / "methods").glob("*/__init__.py"))


def paper_of(mod: str) -> str | None:
    parts = mod.split(".")
    if len(parts) >= 3 and parts[1] == "methods" and parts[2] in paper_folders():
        return parts[2]
    return None


def imports(path: Path, mod: str, *, top_level_only: bool) -> set[str]:
    """Absolute names of the faceinpaint modules that ``path`` imports (function-level ones too
    unless ``top_level_only``); ``from a import b`` counts ``a.b`` when it is a module."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # also imports under a module-level `if TYPE_CHECKING:` are not executed; skip them
        nodes = [n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
    known = modules()
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("faceinpaint"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("faceinpaint"):
                continue
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known)
    return {m for m in found if m in known}


def test_every_paper_folder_has_the_same_rooms():
    papers = paper_folders()
    assert {"lafin", "wgan_completion"} <= set(papers)
    for paper in papers:
        rooms = {p.stem for p in (PKG / "methods" / paper).glob("*.py")}
        assert ROOMS <= rooms, f"methods/{paper}/ lacks {sorted(ROOMS - rooms)}"
        extra = rooms - ROOMS - OPTIONAL_ROOMS
        assert not extra, f"methods/{paper}/ has rooms outside the layout: {sorted(extra)}"


def test_the_old_places_are_gone():
    for old in ("nn/lafin.py", "nn/wgan.py", "methods/lafin.py", "methods/wgan_completion.py", "latent.py",
                "ablation.py", "lafin_experiments.py"):
        assert not (PKG / old).exists(), old


@pytest.mark.parametrize("mod", sorted(modules()))
def test_shared_modules_never_import_a_paper_and_papers_never_import_each_other(mod):
    path = modules()[mod]
    deps = imports(path, mod, top_level_only=False)
    own = paper_of(mod)
    for dep in deps:
        other = paper_of(dep)
        if other is None or other == own:
            continue
        if own is not None:
            pytest.fail(f"{mod} (paper {own}) imports {dep} of paper {other}: share it through a shared module")
        if not mod.startswith(FRONT_ENDS):
            pytest.fail(f"shared module {mod} imports {dep} of paper {other}: shared code must not depend on a paper")


def test_module_level_imports_have_no_cycle():
    mods = modules()
    graph = {m: imports(p, m, top_level_only=True) - {m} for m, p in mods.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_checker_sees_a_cycle_and_a_cross_paper_import(tmp_path, monkeypatch):
    """The two checks above can fail: a planted cycle and a planted cross-paper import are found."""
    fake = tmp_path / "faceinpaint"
    for rel, text in {"__init__.py": "", "a.py": "from . import b\n", "b.py": "from .a import x\n",
                      "methods/__init__.py": "", "methods/p1/__init__.py": "from ..p2 import networks\n",
                      "methods/p2/__init__.py": "", "methods/p2/networks.py": ""}.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    assert "faceinpaint.a" in imports(fake / "b.py", "faceinpaint.b", top_level_only=True)
    assert "faceinpaint.methods.p2.networks" in imports(fake / "methods/p1/__init__.py", "faceinpaint.methods.p1",
                                                         top_level_only=False)
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_module_level_imports_have_no_cycle()
    with pytest.raises(pytest.fail.Exception, match="of paper p2"):
        test_shared_modules_never_import_a_paper_and_papers_never_import_each_other("faceinpaint.methods.p1")
