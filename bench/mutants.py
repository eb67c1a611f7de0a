"""Mutation testing of the modules that carry the product's promises (run by hand, not in CI).

Each mutant changes one thing in one module -- a comparison flipped, a boolean negated, a
constant changed, a statement call (a notification, a check) removed -- in a throw-away copy of
the repository; the tests that guard that module run against it. A mutant the tests do not
notice *survives*: each survivor is printed with its line, as a test to write or a line that
does not matter. The score is killed / (killed + survived).

    python bench/mutants.py                        # every module below, up to 12 mutants each
    python bench/mutants.py --only deploy --max 30 # one module, more mutants

Mutants are chosen by a seeded sample, so two runs of the same code give the same list.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: module -> the test files that guard it
TARGETS = {
    "deploy": ("scones/deploy/__init__.py", ["tests/serving/test_honest_states.py", "tests/serving/test_server.py",
                                             "tests/deploy"]),
    "tuning": ("scones/engine/tuning.py", ["tests/engine/test_tuning.py"]),
    "template": ("scones/infra/template.py", ["tests/infra/test_template.py"]),
    "events": ("lambdas/_events.py", ["tests/lambdas", "tests/test_hostile.py"]),
    "filter": ("lambdas/filter_low_confidence.py", ["tests/lambdas"]),
    "classifier": ("lambdas/classifier.py", ["tests/lambdas"]),
    "notify": ("scones/notify/messages.py", ["tests/notify", "tests/serving/test_honest_states.py"]),
    "registry": ("scones/registry/local.py", ["tests/registry"]),
    "guard": ("scones/ui/guard.py", ["tests/ui/test_guard.py"]),
}
_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
          ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


@dataclass(frozen=True)
class Mutant:
    line: int
    description: str
    source: str


class _Collector(ast.NodeVisitor):
    """Finds the places one mutation can apply: (node id path, description)."""

    def __init__(self):
        self.sites: list[tuple[int, str, str]] = []  # (node index, kind, description)
        self.index = -1
        self.nodes: list[ast.AST] = []

    def generic_visit(self, node):
        self.index += 1
        self.nodes.append(node)
        here = self.index
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _SWAPS:
            swapped = _SWAPS[type(node.ops[0])].__name__
            self.sites.append((here, "compare", f"{type(node.ops[0]).__name__} -> {swapped}"))
        elif isinstance(node, ast.BoolOp):
            self.sites.append((here, "boolop", "and <-> or"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.sites.append((here, "not", "drop `not`"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            self.sites.append((here, "bool", f"{node.value} -> {not node.value}"))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value not in (0, 1):
            self.sites.append((here, "number", f"{node.value} -> {node.value * 2}"))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            self.sites.append((here, "call", "statement call removed"))
        elif isinstance(node, ast.Raise):
            self.sites.append((here, "raise", "raise removed"))
        super().generic_visit(node)


def mutants(path: Path) -> list[Mutant]:
    source = path.read_text(encoding="utf-8")
    found = []
    collector = _Collector()
    collector.visit(ast.parse(source))
    for index, kind, description in collector.sites:
        tree = ast.parse(source)
        walker = _Collector()
        walker.visit(tree)
        node = walker.nodes[index]
        line = getattr(node, "lineno", 0)
        if kind == "compare":
            node.ops[0] = _SWAPS[type(node.ops[0])]()
        elif kind == "boolop":
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif kind == "not":
            node.op = ast.UAdd()  # +x of a bool keeps its truth value: the `not` is gone
        elif kind == "bool":
            node.value = not node.value
        elif kind == "number":
            node.value = node.value * 2
        elif kind in ("call", "raise"):
            for parent in walker.nodes:
                for field_name in ("body", "orelse", "finalbody"):
                    block = getattr(parent, field_name, None)
                    if isinstance(block, list) and node in block:
                        block[block.index(node)] = ast.Pass()
        try:
            mutated = ast.unparse(ast.fix_missing_locations(tree))
        except Exception:  # noqa: BLE001 - an unprintable mutant is skipped
            continue
        found.append(Mutant(line, f"{kind}: {description}", mutated))
    return found


def run(only: list[str] | None, max_per_module: int, timeout: int) -> int:
    with tempfile.TemporaryDirectory(prefix="scones-mutants-") as scratch:
        copy = Path(scratch) / "repo"
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        for relative in files.splitlines():
            target = copy / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target)
        env = {**os.environ, "PYTHONPATH": str(copy)}
        killed = survived = 0
        survivors = []
        for name, (module, tests) in TARGETS.items():
            if only and name not in only:
                continue
            original = (copy / module).read_text(encoding="utf-8")
            candidates = mutants(copy / module)
            chosen = sorted(random.Random(0).sample(candidates, min(max_per_module, len(candidates))),
                            key=lambda m: m.line)
            for mutant in chosen:
                (copy / module).write_text(mutant.source, encoding="utf-8")
                started = time.monotonic()
                try:
                    result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                             "-o", "addopts=", "-n", "2", "--dist", "loadfile", *tests],
                                            cwd=copy, env=env, capture_output=True,
                                            text=True, timeout=timeout)
                    caught = result.returncode != 0
                except subprocess.TimeoutExpired:
                    caught = True  # a hang is a failure the tests would report
                finally:
                    (copy / module).write_text(original, encoding="utf-8")
                seconds = time.monotonic() - started
                verdict = "killed" if caught else "SURVIVED"
                print(f"{name:10} {module}:{mutant.line:<5} {mutant.description:40} {verdict:8} {seconds:5.1f} s",
                      flush=True)
                if caught:
                    killed += 1
                else:
                    survived += 1
                    survivors.append(f"{module}:{mutant.line} {mutant.description}")
        total = killed + survived
        print(f"\nmutation score: {killed}/{total} killed ({100 * killed / max(total, 1):.0f} %)")
        for line in survivors:
            print(f"  survived: {line}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(TARGETS), default=None)
    parser.add_argument("--max", type=int, default=12, help="mutants per module (seeded sample)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per mutant's test run")
    args = parser.parse_args(argv)
    return run(args.only, args.max, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
