"""Whole local pipeline run vs the bare steps, on the default synthetic set.

Prints the wall time of ``scones pipeline run`` (step cache off: stage code and data,
run every job as a subprocess, register) next to the sum of the same steps run
directly as processes (``bench/steps.py``), and the engine's overhead in seconds
and percent, in three situations: a new machine (nothing rendered yet: the SDK is
imported and the definition rendered), a new workspace on a machine that rendered
this code before (the user-level definition cache), and a later run.
Usage::

    python bench/pipeline.py [--epochs 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from steps import ROOT, run_steps  # noqa: E402


def pipeline_run(home: Path, archive: Path, epochs: int, cache: Path) -> float:
    env = {**os.environ, "SCONES_HOME": str(home), "SCONES_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scones.cli", "pipeline", "run", "--no-cache", "--input", str(archive),
                    "-p", f"Epochs={epochs}"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best is reported")
    args = parser.parse_args()
    bare, machine, cold, warm = [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for i in range(args.repeat):
            timings = run_steps(scratch / f"steps{i}", args.epochs)
            bare.append(sum(v for k, v in timings.items() if k != "synth"))
            archive = scratch / f"steps{i}" / "data" / "cifar-100-python.tar.gz"
            cache = scratch / f"cache{i}"  # empty: as on a machine that never rendered this code
            machine.append(pipeline_run(scratch / f"machine{i}", archive, args.epochs, cache))
            cold.append(pipeline_run(scratch / f"home{i}", archive, args.epochs, cache))
            warm.append(pipeline_run(scratch / f"home{i}", archive, args.epochs, cache))
            for name in (f"machine{i}", f"home{i}"):
                shutil.rmtree(scratch / name, ignore_errors=True)
    best_bare = min(bare)
    print(f"local pipeline on the default synthetic set (1000 train / 200 test, {args.epochs} epochs), "
          f"best of {args.repeat}; step cache off in every run:")
    print(f"  bare steps (etl, check, train, pack, evaluate as processes): {best_bare:6.2f} s")
    for label, runs in (("first run on a new machine (renders)", machine),
                        ("first run in a new workspace", cold),
                        ("later run (definition unchanged)", warm)):
        overhead = min(runs) - best_bare
        print(f"  scones pipeline run, {label:<38} {min(runs):6.2f} s  "
              f"overhead {overhead:+.2f} s ({100 * overhead / best_bare:+.1f} %)")
    print(f"  all runs: bare {[round(v, 2) for v in bare]}, new machine {[round(v, 2) for v in machine]}, "
          f"new workspace {[round(v, 2) for v in cold]}, later {[round(v, 2) for v in warm]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
