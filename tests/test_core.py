"""The core runs without the web framework: the notifier's image installs no
Chalice, and the worker's code needs none."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The one module that meets Chalice, imported by app.py alone.
EDGE = "chalicelib.edge"


def import_without_chalice(modules):
    """Imports `modules` in a fresh interpreter where `import chalice` fails."""
    code = ("import importlib, sys\n"
            "sys.modules['chalice'] = None\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def core_modules():
    return [f"chalicelib.{path.stem}" for path in sorted((ROOT / "chalicelib").glob("*.py"))
            if f"chalicelib.{path.stem}" != EDGE]


def test_every_core_module_imports_without_chalice():
    result = import_without_chalice(core_modules())
    assert (result.returncode, result.stderr) == (0, "")


def test_the_notifiers_entry_point_imports_without_chalice():
    result = import_without_chalice(["notifier.__main__"])
    assert (result.returncode, result.stderr) == (0, "")


def test_the_edge_is_what_needs_chalice():
    result = import_without_chalice([EDGE])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        "ModuleNotFoundError: import of chalice halted; None in sys.modules"
