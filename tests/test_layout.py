"""The GUIDE's layout rules: import direction between the four packages, and a torch-free runtime/player."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trainer", "export", "runtime", "player")
ALLOWED = {"trainer": set(), "runtime": set(), "player": {"runtime"}, "export": {"trainer", "runtime"}}
LAZY = {"player/eager.py": {"trainer"}}
"""nerv-bench's eager baseline rebuilds the trainer's module: it imports nervkit.trainer inside a
function, when it runs, and nowhere else may player import it."""


def _imported_packages(path: Path, package: str):
    """(line, our package, top-level?) for every import of a nervkit package in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    depth = len(path.relative_to(ROOT / package).parts)  # 1 for package/x.py, 2 for package/sub/x.py
    top_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            elif node.level > depth - 1:  # climbs out of this package into a sibling
                names = ["nervkit." + (node.module or "")]
            else:
                names = [f"nervkit.{package}"]
        for name in names:
            parts = name.split(".")
            if parts[0] == "nervkit" and len(parts) > 1:
                yield node.lineno, parts[1], id(node) in top_level
            elif parts[0] == "torch":
                yield node.lineno, "torch", id(node) in top_level


@pytest.mark.parametrize("package", PACKAGES)
def test_import_direction(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        lazy = LAZY.get(str(path.relative_to(ROOT)), set())
        for line, target, top in _imported_packages(path, package):
            allowed = target in ALLOWED[package] or (target in lazy and not top)
            if target in PACKAGES and target != package and not allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports nervkit.{target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", ["runtime", "player"])
def test_no_module_level_torch(package):
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in sorted((ROOT / package).rglob("*.py"))
           for line, target, top in _imported_packages(p, package) if target == "torch" and top]
    assert not bad, "torch imported at module level: " + ", ".join(bad)


def test_importing_runtime_and_player_loads_no_torch():
    code = ("import sys, nervkit.runtime, nervkit.player.play, nervkit.player.bench, nervkit.player.eager; "
            "print('torch' in sys.modules or 'nervkit.trainer' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pytorch_wavelets_imports_on_a_fresh_install():
    """pytorch_wavelets 1.3.0 needs pkg_resources, which new setuptools dropped; our import must work."""
    code = ("import sys; sys.modules['pkg_resources'] = None\n"  # as if setuptools had no pkg_resources
            "from nervkit.trainer.wavelets import import_pytorch_wavelets\n"
            "ptw = import_pytorch_wavelets(); import pywt, torch\n"
            "ll, (h,) = ptw.DWTForward(J=1, wave='haar')(torch.ones(1, 1, 4, 4)); print(float(ll.mean()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-1500:]
    assert float(out.stdout) == pytest.approx(2.0)


def test_every_subpackage_is_installed():
    """A folder with ``__init__.py`` missing from pyproject's package list is absent from a real install."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"nervkit." + ".".join(p.parent.relative_to(ROOT).parts)
             for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")}
    assert found <= listed, f"not installed: {sorted(found - listed)}"
