"""Corrupt-image check step: every image decodes fully, is SxS RGB (S from ``dataset.json``), has a known label.

Runs before training. Good images are copied to the clean output with a
rewritten ``.lst``; bad ones are copied, untouched, to ``quarantine/<split>/``
and listed in ``quarantine/report.json`` with the reason. Nothing is dropped
silently: files on disk that no manifest lists, and manifest lines whose file
is missing, are reported too. The step fails (exit 1, message on stderr) when
the bad share exceeds ``--max-bad-fraction``; otherwise training proceeds on
the clean set.

With ``ProcessingInstanceCount`` N > 1 each split arrives ``ShardedByS3Key``: an instance holds
about 1/N of the images and perhaps the split's manifest files. The instances share the manifests
and their file listings (gloo, small objects only), check the images they hold, and the first
assembles the clean manifests and the report from everyone's verdicts -- the same files, counts,
order and digest as one instance checking everything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from common import distributed
from common.distributed import Cluster
from common.imaging import INPUT_SIZE, ImageError, validate_training_image
from common.manifest import (
    CLASSES_FILE,
    DATASET_FILE,
    LstEntry,
    ManifestError,
    find_lst,
    is_reviewed,
    read_classes,
    read_image_size,
    read_lst,
    write_classes,
    write_dataset_info,
    write_lst,
)
from processing.folders import listing_key
from processing.progress import Progress

DEFAULT_INPUT = "/opt/ml/processing/input"
DEFAULT_OUTPUT = "/opt/ml/processing/output"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class BadFile:
    file: str  # <split>/<relative path>
    split: str
    reason: str  # short code, e.g. "truncated"
    detail: str


class CheckFailed(RuntimeError):
    """Too many bad files: the message says how many and the limit."""


def _examine(folder: Path, entry: LstEntry, classes: Sequence[str], size: int) -> tuple[BadFile | None, bytes]:
    """(the problem or None, the file's bytes when it is good): the file is read once."""
    split = folder.name
    where = f"{split}/{entry.path}"
    if not 0 <= entry.label < len(classes):
        return BadFile(where, split, "unknown_label",
                       f"label {entry.label} is not in classes.json ({len(classes)} classes)"), b""
    path = folder / entry.path
    if not path.is_file():
        return BadFile(where, split, "missing_file", "listed in the manifest but not on disk"), b""
    data = path.read_bytes()
    try:
        validate_training_image(data, size=size)
    except ImageError as exc:
        return BadFile(where, split, exc.reason, exc.message), b""
    return None, data


def _images_on_disk(folder: Path) -> list[str]:
    found = (p.relative_to(folder).as_posix() for p in folder.rglob("*")
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(found, key=listing_key)


def _share_manifests(folder: Path, cluster: Cluster) -> None:
    """Give this instance a copy of the split's manifest files, whichever instance's shard holds them."""
    if not cluster.distributed:
        return
    mine = {p.name: p.read_bytes() for p in folder.glob("*")
            if p.is_file() and (p.suffix == ".lst" or p.name in (CLASSES_FILE, DATASET_FILE))}
    for name, data in distributed.union(cluster, mine).items():
        if not (folder / name).exists():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)


@dataclass
class SplitPlan:
    """One split as every instance sees it: the manifest, and which instance holds each listed file."""

    folder: Path
    classes: list[str]
    size: int
    lst_name: str
    entries: list[LstEntry]
    on_disk: list[str]  # this instance's image files
    owner: list[int]  # per entry: the instance that checks it (the holder; the first when nobody holds it)

    def mine(self, cluster: Cluster) -> list[int]:
        return [i for i, rank in enumerate(self.owner) if rank == cluster.rank]


def plan_split(folder: Path, size: int, cluster: Cluster = Cluster()) -> SplitPlan:
    folder = Path(folder)
    _share_manifests(folder, cluster)
    classes = read_classes(folder)
    size = size or read_image_size(folder, INPUT_SIZE)
    lst = find_lst(folder)
    entries = read_lst(lst)
    on_disk = _images_on_disk(folder)
    holder = distributed.union(cluster, dict.fromkeys(on_disk, cluster.rank))
    return SplitPlan(folder, classes, size, lst.name, entries, on_disk, [holder.get(e.path, 0) for e in entries])


def check_split(plan: SplitPlan, clean: Path, quarantine: Path, progress: Progress,
                cluster: Cluster = Cluster()) -> tuple[int, list[BadFile], str]:
    """Check the split's files this instance holds; every instance returns the whole split's verdict.

    Returns (examined, bad files, digest of the clean split): the digest covers every kept
    image's path, label and bytes, so two versions trained on the same data show the same one.
    """
    folder = plan.folder
    verdicts: dict[int, tuple[dict | None, bytes]] = {}
    mine = plan.mine(cluster)
    # decoding is nearly all of the work and Pillow releases the GIL while it decodes: every core helps
    with ThreadPoolExecutor(max_workers=distributed.usable_cores()) as pool:
        examined = pool.map(lambda position: _examine(folder, plan.entries[position], plan.classes, plan.size), mine)
        for position, (problem, data) in zip(mine, examined, strict=True):
            _record(folder, plan.entries[position], position, problem, data, clean, quarantine, verdicts)
            progress.advance()
    listed = {e.path for e in plan.entries}
    unlisted = []
    for relative in plan.on_disk:
        if relative not in listed:
            unlisted.append(asdict(BadFile(f"{folder.name}/{relative}", folder.name, "unlisted",
                                           "image file on disk that no manifest line labels")))
            _quarantine(folder / relative, quarantine / folder.name / relative)
    verdicts = distributed.union(cluster, verdicts)
    unlisted = sorted((item for part in distributed.gather(cluster, unlisted) for item in part),
                      key=lambda item: listing_key(item["file"]))
    bad, good = [], []
    digest = hashlib.sha256("\n".join(plan.classes).encode())
    for position, entry in enumerate(plan.entries):
        problem, entry_digest = verdicts[position]
        if problem is None:
            good.append(LstEntry(len(good), entry.label, entry.path))
            digest.update(entry_digest)
        else:
            bad.append(BadFile(**problem))
    bad += [BadFile(**item) for item in unlisted]
    if cluster.is_main:
        clean.mkdir(parents=True, exist_ok=True)
        write_lst(clean / plan.lst_name, good)
        write_classes(clean, plan.classes)
        write_dataset_info(clean, plan.size)
    return len(plan.entries) + len(unlisted), bad, digest.hexdigest()


def _record(folder: Path, entry: LstEntry, position: int, problem: BadFile | None, data: bytes, clean: Path,
            quarantine: Path, verdicts: dict) -> None:
    """A good file goes to the clean split (its digest noted), a bad one to quarantine, untouched."""
    if problem is None:
        target = clean / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        verdicts[position] = (None, hashlib.sha256(f"\0{entry.label}\0{entry.path}\0".encode() + data).digest())
        return
    if (folder / entry.path).is_file():
        _quarantine(folder / entry.path, quarantine / folder.name / entry.path)
    verdicts[position] = (asdict(problem), b"")


def _quarantine(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def run_check(inputs: dict[str, Path], output: Path, quarantine: Path, max_bad_fraction: float = 0.05,
              size: int = 0, cluster: Cluster = Cluster()) -> dict:
    """Check every split; writes the report, raises :class:`CheckFailed` past the limit.

    ``cluster``: this instance's place in a sharded processing job (see the module docstring);
    every instance returns (or raises) the same verdict, and the first writes the report.
    """
    total = 0
    bad: list[BadFile] = []
    counts = {}
    plans = {split: plan_split(Path(folder), size, cluster) for split, folder in inputs.items()}
    progress = Progress("check images", sum(len(plan.mine(cluster)) for plan in plans.values()))
    for split, plan in plans.items():
        examined, split_bad, digest = check_split(plan, Path(output) / split, Path(quarantine), progress, cluster)
        total += examined
        bad.extend(split_bad)
        refused = {b.file for b in split_bad}
        reviewed = sum(is_reviewed(e.path) and f"{split}/{e.path}" not in refused for e in plan.entries)
        counts[split] = {"examined": examined, "bad": len(split_bad), "clean": examined - len(split_bad),
                         "reviewed": reviewed, "digest": digest}
    fraction = len(bad) / total if total else 1.0
    report = {
        "examined": total,
        "bad": len(bad),
        "bad_fraction": round(fraction, 6),
        "max_bad_fraction": max_bad_fraction,
        "passed": fraction <= max_bad_fraction and total > 0,
        "splits": counts,
        "dataset_digest": hashlib.sha256("".join(c["digest"] for c in counts.values()).encode()).hexdigest(),
        "reasons": {reason: sum(1 for b in bad if b.reason == reason) for reason in sorted({b.reason for b in bad})},
        "files": [asdict(b) for b in bad],
    }
    Path(quarantine).mkdir(parents=True, exist_ok=True)
    if cluster.is_main:
        (Path(quarantine) / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        for item in bad:
            print(f"check: quarantined {item.file}: {item.reason}: {item.detail}", flush=True)
    print(f"check: {len(bad)} of {total} files bad ({fraction:.2%}), limit {max_bad_fraction:.2%}", flush=True)
    if total == 0:
        raise CheckFailed("no images to check: the manifests are empty")
    if not report["passed"]:
        raise CheckFailed(
            f"{len(bad)} of {total} images are bad ({fraction:.2%}), more than the allowed "
            f"{max_bad_fraction:.2%}; see {Path(quarantine) / REPORT_FILE} (reasons: {report['reasons']})"
        )
    return report


def build_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        add_help=add_help,
        prog="check.py",
        description="Corrupt-image check: quarantine images that do not decode fully, are not "
                    "SxS RGB (S: the ETL's image size), are constant, or have no known label. On several "
                    "instances each checks the images it holds and the first writes the merged report.",
    )
    parser.add_argument("--input", default=DEFAULT_INPUT,
                        help="folder holding one sub-folder per split (train/, validation/, test/)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="clean splits are written here (default: %(default)s)")
    parser.add_argument("--quarantine", default=None,
                        help="bad files and report.json (default: <output>/quarantine)")
    parser.add_argument("--splits", nargs="+", default=["train", "validation", "test"])
    parser.add_argument("--max-bad-fraction", type=float, default=0.05,
                        help="fail the step when more than this share of images is bad")
    parser.add_argument("--image-size", type=int, default=0,
                        help="expected side in pixels; 0 (default) reads each split's dataset.json "
                             f"(written by the ETL), {INPUT_SIZE} when it has none")
    return parser


def run(args: argparse.Namespace) -> int:
    root = Path(args.input)
    inputs = {split: root / split for split in args.splits}
    quarantine = Path(args.quarantine) if args.quarantine else Path(args.output) / "quarantine"
    try:
        with distributed.joined(distributed.for_processing_job()) as cluster:
            run_check(inputs, Path(args.output), quarantine, args.max_bad_fraction, args.image_size, cluster)
    except (CheckFailed, ManifestError, FileNotFoundError) as exc:
        print(f"check failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
