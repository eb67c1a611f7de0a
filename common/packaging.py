"""Which project files a piece of deployed code needs: the import closure of its entry modules.

The Lambda zip and the monitoring job's zipapp each ship only the modules their
entry points import, directly or inside functions (lazy imports count: they run in
the cloud too). Computed from the source, so a new import cannot be forgotten in a
hand-kept list, and nothing the entry points never reach (dashboard, engine, CLI)
is shipped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

#: The repository's own top-level packages, lowest floor first: each imports only those before it
#: (``tests/test_configuration.py`` holds the tree to it). Imports of anything else are third-party.
PROJECT_PACKAGES = ("common", "training", "processing", "pipelines", "inference_workflow", "scones", "lambdas")


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Modules named by every import statement in the file (relative ones resolved), submodules included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return found


def closure(root: Path, entries: Iterable[str]) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every project module the entries import, with their packages' __init__."""
    root = Path(root)
    files: dict[str, bytes] = {}
    pending = list(entries)
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen or module.split(".")[0] not in PROJECT_PACKAGES:
            continue
        seen.add(module)
        path = _module_file(root, module)
        if path is None:
            continue  # `from pkg import name` where name is not a module
        files[path.relative_to(root).as_posix()] = path.read_bytes()
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        pending.extend(_imports(path, module))
    return dict(sorted(files.items()))
