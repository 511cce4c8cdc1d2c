"""The shape of the package, checked so that it stays: each stage kind is one module with its
declaration and its run; imports run one way (nothing below the runner imports the CLI, the
runner or the Slurm orchestration; backends import no stage or recipe); one module spells
run-directory paths; no function needs scrolling to read."""
import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "srlm_nemo"
MAX_FUNCTION_LINES = 49  # under 50


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the package's modules that `path` imports (relative imports resolved)."""
    package = ["srlm_nemo", *path.relative_to(PACKAGE).parent.parts]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            out |= {name} | {f"{name}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {n for n in out if n.startswith("srlm_nemo")}


def test_every_function_is_under_fifty_lines():
    long = [
        f"{p.relative_to(PACKAGE)}:{n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for p in _modules()
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


LOWER = ("stages", "backends", "recipes")
UPPER = ("srlm_nemo.cli", "srlm_nemo.runner", "srlm_nemo.cluster")


@pytest.mark.parametrize("folder", LOWER)
def test_lower_layers_import_no_upper_one(folder):
    wrong = {str(p.relative_to(PACKAGE)): sorted(n for n in _imports(p) if n.startswith(UPPER))
             for p in (PACKAGE / folder).rglob("*.py")}
    assert not {k: v for k, v in wrong.items() if v}


def test_backends_know_no_stage_or_recipe():
    wrong = {str(p.relative_to(PACKAGE)): sorted(n for n in _imports(p)
                                                 if n.startswith(("srlm_nemo.stages", "srlm_nemo.recipes")))
             for p in (PACKAGE / "backends").rglob("*.py")}
    assert not {k: v for k, v in wrong.items() if v}


def test_each_stage_kind_is_one_module_with_its_declaration_and_run():
    from srlm_nemo.stages import MODULES
    for kind, module in MODULES.items():
        assert Path(module.__file__).stem == kind, kind
        assert callable(getattr(module, "declare", None)) and callable(getattr(module, "run", None)), kind


def test_only_the_run_layout_spells_iteration_folders():
    spelled = [f"{p.relative_to(PACKAGE)}:{i}" for p in _modules() if p.name != "run_layout.py"
               for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"""f["']iter_\{""", line)]
    assert not spelled, spelled
