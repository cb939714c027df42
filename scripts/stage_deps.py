"""Each stage's code, as its imports say: `make stage-deps` writes stages/approaches.yaml (which dvc.yaml reads),
`python scripts/stage_deps.py check` compares every stage's `deps` in dvc.yaml with the files its command imports.

A stage's code is the import closure of its `python -m stages.<kind>` module: imports at the top and inside
functions, relative ones resolved, each package's __init__.py with it; an approach's model code, which the train and
export stages import by name (meshfer.training.model_kinds), is added for that approach. Not followed: a package's
lazy `__getattr__` re-export, and the modules in NOT_DECLARED, which check params and compute nothing.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshfer.training.model_kinds import approach_code, code_of  # noqa: E402

APPROACHES_FILE = ROOT / "stages" / "approaches.yaml"
HEADER = ("# Written by `make stage-deps` (scripts/stage_deps.py) from params.yaml and "
          "meshfer/training/model_kinds.py;\n"
          "# do not edit. dvc.yaml reads it: each approach's stages depend on the code of its own model kind only.\n")

# Imported by every stage, never an input to an output; a change to one of them re-runs nothing.
NOT_DECLARED = {
    "stages/__init__.py": "checks params.yaml (and stages/approaches.yaml against it) before a stage starts",
    "meshfer/training/__init__.py": "checks that the training stack is installed",
    "meshfer/training/schema.py": "the params schema: reads and checks params, changes no output",
}
# Which parts of an approach's model code (meshfer.training.model_kinds.KindCode) a stage kind imports by name.
DYNAMIC_PARTS = {"train": ("framework", "model"), "export": ("framework", "model", "converter")}


def _package_of(path: Path) -> str:
    """The dotted package a file's relative imports start from ("" outside the checkout)."""
    if ROOT not in path.parents:
        return ""
    return ".".join(path.relative_to(ROOT).parent.parts)


def _lazy_reexports(tree: ast.Module) -> set[ast.AST]:
    """The nodes inside a module-level ``__getattr__`` (a package's lazy re-export)."""
    return {node for top in tree.body if isinstance(top, ast.FunctionDef) and top.name == "__getattr__"
            for node in ast.walk(top)}


def imported_modules(path: Path, follow_lazy_reexports: bool = True) -> set[str]:
    """Every module a file imports, at the top or inside a function (relative imports resolved)."""
    package = _package_of(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = set() if follow_lazy_reexports else _lazy_reexports(tree)
    found = set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def module_files(name: str) -> list[str]:
    """The project files importing ``name`` runs: each package's __init__.py on the way, then the module."""
    parts, files = name.split("."), []
    for depth in range(1, len(parts) + 1):
        base = Path(*parts[:depth])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if (ROOT / candidate).is_file():
                files.append(candidate.as_posix())
    return files


def closure(modules: list[str]) -> set[str]:
    """The project files that importing ``modules`` runs (see the module's docstring)."""
    seen: set[str] = set()
    todo = [f for name in modules for f in module_files(name)]
    while todo:
        path = todo.pop()
        if path in seen or path in NOT_DECLARED:
            continue
        seen.add(path)
        for name in imported_modules(ROOT / path, follow_lazy_reexports=False):
            todo.extend(module_files(name))
    return seen


def stage_code(stage_name: str, cmd: str, params: dict) -> set[str]:
    """The code a stage runs: its module's closure, plus its approach's model code where imported by name."""
    words = cmd.split()
    module = words[words.index("-m") + 1]
    modules = [module]
    kind, _, item = stage_name.partition("@")
    if kind in DYNAMIC_PARTS:
        code = code_of(params[item]["model"]["kind"])
        modules += [getattr(code, part) for part in DYNAMIC_PARTS[kind]]
    return closure(modules)


def declared_code(deps: list[str]) -> set[str]:
    return {d for d in deps if d.endswith(".py")}


def differences(root: Path = ROOT) -> dict[str, dict[str, list[str]]]:
    """Per stage of dvc.yaml whose declared code differs from what it imports: the files missing and extra."""
    from dvc.repo import Repo

    from meshfer.training.config import load_params

    params = load_params(root / "params.yaml")
    found = {}
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            if not stage.cmd or "-m" not in stage.cmd.split():
                continue
            runs = stage_code(stage.name, stage.cmd, params)
            declared = declared_code([d.def_path for d in stage.deps])
            if runs != declared:
                found[stage.name] = {"missing": sorted(runs - declared), "extra": sorted(declared - runs)}
    return found


def approaches_yaml(params: dict) -> str:
    import yaml

    return HEADER + yaml.safe_dump({"approach_code": approach_code(params)}, sort_keys=False, width=120)


def main() -> None:
    from meshfer.training.config import load_params

    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "write":
        APPROACHES_FILE.write_text(approaches_yaml(load_params(ROOT / "params.yaml")), encoding="utf-8")
        print(f"stage-deps: wrote {APPROACHES_FILE.relative_to(ROOT)}")
    elif command == "check":
        found = differences()
        for stage, diff in found.items():
            for what, files in diff.items():
                if files:
                    print(f"{stage}: {what} {' '.join(files)}")
        raise SystemExit(1 if found else 0)
    else:
        raise SystemExit("usage: python scripts/stage_deps.py [write|check]")


if __name__ == "__main__":
    main()
