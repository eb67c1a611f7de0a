"""``scones data synth|fetch|etl|check``: prepare the dataset one step at a time."""

from __future__ import annotations

import argparse
from pathlib import Path

from scones.commands import add_group, add_step
from scones.workspace import Workspace


def register(subparsers) -> None:
    ws = Workspace.from_env()
    data = add_group(subparsers, "data", "prepare the dataset: synth, fetch, etl, check")

    synth = data.add_parser(
        "synth", help="write a SYNTHETIC CIFAR-100 archive (no network needed)",
        description="Write cifar-100-python.tar.gz in the exact CIFAR-100 python-pickle format, with "
                    "procedurally drawn images (synthetic, not real photos) for the chosen classes.",
        epilog="Example: scones data synth --classes bicycle motorcycle --train-per-class 500",
    )
    synth.add_argument("--output", type=Path, default=ws.synthetic_archive)
    synth.add_argument("--classes", nargs="+", default=["bicycle", "motorcycle"])
    synth.add_argument("--train-per-class", type=int, default=500, help="real CIFAR-100 has 500")
    synth.add_argument("--test-per-class", type=int, default=100, help="real CIFAR-100 has 100")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(handler=_synth)

    fetch = data.add_parser(
        "fetch", help="download the real CIFAR-100 archive (MD5-checked, cached)",
        description="Download the official cifar-100-python.tar.gz and verify its MD5. Needs internet.",
    )
    fetch.add_argument("--url", default=None, help="default: the University of Toronto's official URL")
    fetch.add_argument("--output-dir", type=Path, default=ws.data)
    fetch.set_defaults(handler=_fetch)

    from processing import check, etl

    add_step(data, "etl", etl.build_parser(add_help=False), "archive -> PNG folders + .lst manifests",
             epilog="Example: scones data etl --classes bicycle motorcycle --validation-fraction 0.2",
             input=str(ws.data), output=str(ws.steps / "etl"), handler=etl.run)
    add_step(data, "check", check.build_parser(add_help=False), "quarantine corrupt images; fail past a limit",
             epilog="Example: scones data check --max-bad-fraction 0.01",
             input=str(ws.steps / "etl"), output=str(ws.steps / "clean"), handler=_check)


def _check(args: argparse.Namespace) -> int:
    from processing import check
    from scones.commands import require_input

    require_input(args.input, "scones data etl")
    return check.run(args)


def _synth(args: argparse.Namespace) -> int:
    from processing.synth import write_synthetic_archive

    path = write_synthetic_archive(args.output, args.classes, args.train_per_class, args.test_per_class, args.seed)
    total = len(args.classes) * (args.train_per_class + args.test_per_class)
    print(f"wrote SYNTHETIC CIFAR-100 archive {path} ({total} drawn images of {', '.join(args.classes)})")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from processing import cifar
    from processing.progress import Progress

    url = args.url or cifar.CIFAR100_URL
    progress = Progress("download bytes", 0, every=5.0)

    def on_bytes(done: int, total: int) -> None:
        progress.total = total
        progress.advance(done - progress.done)

    try:
        path = cifar.download(url, args.output_dir, md5=cifar.CIFAR100_MD5 if args.url is None else None,
                              progress=on_bytes)
    except (OSError, cifar.ChecksumError) as exc:
        print(f"fetch failed: {exc}\nNo network? `scones data synth` writes a synthetic archive instead.")
        return 1
    print(f"archive ready: {path} (md5 {cifar.md5_of(path)})")
    return 0
