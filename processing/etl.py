"""ETL step: CIFAR-100 archive -> per-split PNG folders with ``.lst`` manifests.

Runs as a SageMaker processing job (``python3 etl.py`` with the archive under
``/opt/ml/processing/input/data``) or locally with any paths. Output layout::

    <output>/train/<class>/<cifar filename>.png   + train.lst, classes.json
    <output>/validation/...                       (carved from CIFAR's train split)
    <output>/test/...                             (CIFAR's own test split)
    <output>/meta/classes.json, manifest.json     (counts, source, label mapping)

Reviewed images (``--reviewed``: what people answered in the review queue, staged as class
folders by ``scones review export``) join the **train** split only, under
``train/<class>/reviewed/``, fitted to the same input size. Validation and test stay the
source's own, so every version is graded on the same test images and a model is never scored on
what a person corrected for it; live accuracy on reviewed traffic uses a held-back share instead.
A reviewed class the run does not have is skipped and counted. A CIFAR-100 archive and an image
folder take them the same way.

With ``ProcessingInstanceCount`` N > 1 the input is ``ShardedByS3Key``: each instance holds
about 1/N of an image folder's files. The instances merge their *listings* first (a gloo
all-gather of names and header sizes, no pixels), so every one of them makes the same plan a
single instance would -- classes, the seeded stratified split, the auto image size, the file
names -- then each converts only the files it holds, and the first writes the manifests. The
result is the one-instance dataset, file for file. A CIFAR-100 archive is one S3 object, so one
instance holds it and converts it alone (two classes are ~1,000 images, seconds); the others
have nothing to do.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from common import defaults, distributed
from common.distributed import Cluster
from common.imaging import INPUT_SIZE, encode_png, fit_to_input
from common.manifest import REVIEWED_FOLDER, LstEntry, read_lst, write_classes, write_dataset_info, write_lst
from processing import cifar, folders
from processing.progress import Progress

DEFAULT_INPUT = "/opt/ml/processing/input/data"
DEFAULT_OUTPUT = "/opt/ml/processing/output"
DEFAULT_CLASSES = defaults.DEFAULT_CLASSES
SPLITS = ("train", "validation", "test")
#: The sizes ``--image-size 0`` (auto) picks for an image folder: the largest not above the
#: median short side of its images. Bigger inputs cost quadratically more to train; ask explicitly.
AUTO_SIZES = (32, 64, 96, 128)


class EtlError(ValueError):
    """A user-facing ETL failure (unknown class, bad archive); printed without a traceback."""


def resolve_classes(names: Sequence[str], fine_label_names: Sequence[str]) -> list[int]:
    """Class names -> CIFAR fine label ids, with a suggestion for a misspelt name."""
    ids = []
    for name in names:
        if name not in fine_label_names:
            close = difflib.get_close_matches(name, fine_label_names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise EtlError(f"class {name!r} is not a CIFAR-100 fine label{hint}")
        ids.append(fine_label_names.index(name))
    if len(set(ids)) != len(ids):
        raise EtlError(f"classes repeat: {list(names)}")
    return ids


def split_validation(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation rows: the same fraction of every class, chosen by ``seed``."""
    if not 0.0 <= fraction < 1.0:
        raise EtlError(f"validation fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        take = int(round(len(rows) * fraction))
        mask[rng.choice(rows, size=take, replace=False)] = True
    return mask


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, stem, n = name, name.rsplit(".", 1)[0], 1
    while candidate in taken:
        candidate, n = f"{stem}_dup{n}.png", n + 1
    taken.add(candidate)
    return candidate


def auto_image_size(short_sides: Sequence[int]) -> int:
    """The input size for images whose short sides are ``short_sides`` (see :data:`AUTO_SIZES`)."""
    if not short_sides:
        return INPUT_SIZE
    median = float(np.median(short_sides))
    return max([size for size in AUTO_SIZES if size <= median] or [AUTO_SIZES[0]])


def write_split(folder: Path, split: str, images: np.ndarray, labels: Sequence[int],
                filenames: Sequence[str], classes: Sequence[str], progress: Progress,
                size: int = INPUT_SIZE) -> dict[str, int]:
    """Write PNGs under ``folder/<class>/`` plus ``<split>.lst``; returns the count per class."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in classes:
        (folder / name).mkdir(exist_ok=True)
    entries, taken, counts = [], set(), {name: 0 for name in classes}
    for index, (pixels, label, filename) in enumerate(zip(images, labels, filenames, strict=True)):
        class_name = classes[label]
        relative = f"{class_name}/{_unique_name(Path(filename).name, taken)}"
        if pixels.shape[0] != size:
            pixels = np.asarray(fit_to_input(Image.fromarray(pixels, "RGB"), size), dtype=np.uint8)
        (folder / relative).write_bytes(encode_png(pixels))
        entries.append(LstEntry(index, int(label), relative))
        counts[class_name] += 1
        progress.advance()
    write_lst(folder / f"{split}.lst", entries)
    write_classes(folder, classes)
    write_dataset_info(folder, size)
    return counts


def add_reviewed(output: Path, reviewed: Path, manifest: dict) -> dict:
    """Append the reviewed images under ``reviewed/<class>/`` to the train split; returns what was added.

    Runs on the instance that wrote the manifests (the input is replicated to every instance).
    A file that does not decode keeps its bytes, as in the folder ETL, for the check to quarantine.
    """
    classes, size = list(manifest["classes"]), int(manifest["image_size"][0])
    train = Path(output) / "train"
    entries = read_lst(train / "train.lst")
    added: dict[str, int] = {}
    skipped: dict[str, int] = {}
    listing = folders.list_images(Path(reviewed)) if Path(reviewed).is_dir() else []
    for relative in listing:
        label_name, _, name = relative.partition("/")
        if label_name not in classes or "/" in name:
            skipped[label_name] = skipped.get(label_name, 0) + 1
            continue
        data, suffix = folders.prepared_bytes(Path(reviewed) / relative, size)
        path = f"{label_name}/{REVIEWED_FOLDER}/{folders.safe_file_name(Path(name).stem)}{suffix}"
        (train / path).parent.mkdir(parents=True, exist_ok=True)
        (train / path).write_bytes(data)
        entries.append(LstEntry(len(entries), classes.index(label_name), path))
        added[label_name] = added.get(label_name, 0) + 1
    write_lst(train / "train.lst", entries)
    summary = {"added": sum(added.values()), "per_class": added, "skipped_unknown_class": skipped}
    if listing:
        print(f"etl: {summary['added']} reviewed images joined the train split {added}"
              + (f"; skipped {skipped} (classes this run does not have)" if skipped else ""), flush=True)
    return summary


def run_etl(source: str, output: Path, classes: Sequence[str] = DEFAULT_CLASSES,
            validation_fraction: float = 0.2, seed: int = 0, cache_dir: Path | None = None,
            md5: str | None = None, image_size: int = 0, cluster: Cluster = Cluster(),
            reviewed: Path | None = None) -> dict | None:
    """Extract, filter and write the dataset (plus ``reviewed`` images, see the module docstring)."""
    manifest = _run_etl(source, output, classes, validation_fraction, seed, cache_dir, md5, image_size, cluster)
    meta = Path(output) / "meta" / "manifest.json"
    if manifest is not None and meta.exists():  # the instance that wrote the manifests
        manifest["reviewed"] = add_reviewed(output, reviewed, manifest) if reviewed else {"added": 0}
        manifest["totals"]["train"] += manifest["reviewed"]["added"]
        meta.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _run_etl(source: str, output: Path, classes: Sequence[str] = DEFAULT_CLASSES,
             validation_fraction: float = 0.2, seed: int = 0, cache_dir: Path | None = None,
             md5: str | None = None, image_size: int = 0, cluster: Cluster = Cluster()) -> dict | None:
    """Extract, filter and write the dataset; returns the manifest it also writes to ``meta/``.

    ``cluster``: this instance's place in a sharded processing job (see the module docstring);
    an instance with nothing to write returns None.

    ``image_size`` is the side of the square images written (the model's input size); 0 picks it:
    32 for a CIFAR archive, :func:`auto_image_size` for an image folder.
    """
    output = Path(output)
    cache_dir = Path(cache_dir) if cache_dir else output / ".cache"
    if md5 is None and source == cifar.CIFAR100_URL:
        md5 = cifar.CIFAR100_MD5
    download_progress = Progress("download bytes", 0, every=5.0)

    def on_bytes(done: int, total: int) -> None:
        download_progress.total = total
        download_progress.advance(done - download_progress.done)

    held = distributed.gather(cluster, _what_is_held(source))
    if "image_folder" in held:
        return run_folder_etl(Path(source), output, classes, validation_fraction, seed, image_size=image_size,
                              cluster=cluster)
    holder = next((rank for rank, kind in enumerate(held) if kind != "nothing"), 0)
    if cluster.rank != holder:
        print(f"etl: the archive is one object and instance {holder + 1} of {cluster.world_size} holds it; "
              "this instance has nothing to convert", flush=True)
        return None
    try:
        archive_path = cifar.locate_archive(source, cache_dir, md5=md5, progress=on_bytes)
        archive = cifar.read_archive(archive_path)
    except (cifar.CifarFormatError, cifar.ChecksumError, FileNotFoundError) as exc:
        raise EtlError(str(exc)) from exc
    fine_ids = resolve_classes(classes or DEFAULT_CLASSES, archive.fine_label_names)
    classes = list(classes or DEFAULT_CLASSES)
    print(f"etl: {archive_path} -> classes {dict(zip(classes, fine_ids, strict=True))}", flush=True)

    selected = {}
    for split in (archive.train, archive.test):
        keep = np.isin(split.fine_labels, fine_ids)
        labels = np.array([fine_ids.index(v) for v in split.fine_labels[keep]], dtype=np.int64)
        names = [f for f, k in zip(split.filenames, keep, strict=True) if k]
        selected[split.name] = (split.images[keep], labels, names)
    if any(len(labels) == 0 for _, labels, _ in selected.values()):
        raise EtlError(f"no images of {list(classes)} in {archive_path}")

    images, labels, names = selected["train"]
    is_val = split_validation(labels, validation_fraction, seed)
    parts = {
        "train": (images[~is_val], labels[~is_val], [n for n, v in zip(names, is_val, strict=True) if not v]),
        "validation": (images[is_val], labels[is_val], [n for n, v in zip(names, is_val, strict=True) if v]),
        "test": selected["test"],
    }
    size = image_size or INPUT_SIZE
    progress = Progress("etl images written", sum(len(p[1]) for p in parts.values()))
    counts = {split: write_split(output / split, split, *parts[split], classes, progress, size) for split in SPLITS}
    manifest = {
        "source": str(source),
        "archive": archive_path.name,
        "archive_md5": cifar.md5_of(archive_path),
        "classes": list(classes),
        "cifar_fine_labels": dict(zip(classes, fine_ids, strict=True)),
        "validation_fraction": validation_fraction,
        "seed": seed,
        "counts": counts,
        "totals": {split: sum(c.values()) for split, c in counts.items()},
        "image_size": [size, size, 3],
    }
    meta = output / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    write_classes(meta, classes)
    (meta / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"etl: wrote {manifest['totals']} to {output}", flush=True)
    return manifest


def _what_is_held(source: str) -> str:
    """What this instance's copy of the input is: an image folder, an archive (or URL), or nothing."""
    if "://" in str(source):
        return "archive"
    folder = Path(source)
    if folders.is_image_folder(folder):
        return "image_folder"
    if folder.is_file() or (folder.is_dir() and any(folder.iterdir())):
        return "archive"
    return "nothing"


def convert_all(root: Path, items: Sequence[tuple[str, int, str]], size: int) -> Iterator[tuple[bytes, str]]:
    """:func:`folders.prepared_bytes` for each ``(split, index, relative path)``, in order, on every core.

    Threads suffice: Pillow releases the GIL while it decodes, resizes and compresses, which is
    nearly all of the work; one thread left most of an instance's cores idle.
    """
    with ThreadPoolExecutor(max_workers=distributed.usable_cores()) as pool:
        yield from pool.map(lambda item: folders.prepared_bytes(root / item[2], size), items)


def plan_image_size(root: Path, splits: dict, held: set[str], cluster: Cluster) -> int:
    """:func:`auto_image_size` over the plan's size sample; each instance reads the headers it holds."""
    sample = folders.size_sample(splits)
    sides = distributed.union(cluster, {relative: folders.short_side(root / relative)
                                        for relative in sample if relative in held})
    return auto_image_size([sides[relative] for relative in sample if sides.get(relative) is not None])


def run_folder_etl(root: Path, output: Path, classes: Sequence[str], validation_fraction: float, seed: int,
                   test_fraction: float = 0.2, image_size: int = 0, cluster: Cluster = Cluster()) -> dict:
    """Class-per-folder images -> the same split layout, fitted to the input size.

    Every decision is made from the merged listing (identical on every instance); the files are
    converted where they are held, under a staging name, and renamed once every instance has said
    which of its files did not decode (those keep their bytes and suffix, for the check to report).
    """
    root, output = Path(root), Path(output)
    mine = folders.list_images(root)
    listing = sorted({relative for part in distributed.gather(cluster, mine) for relative in part},
                     key=folders.listing_key)
    try:
        names, splits = folders.load_items(listing, list(classes or []), validation_fraction, test_fraction, seed)
    except ValueError as exc:
        raise EtlError(f"{root}: {exc}") from exc
    held = set(mine)
    size = image_size or plan_image_size(root, splits, held, cluster)
    sharded = f", instance {cluster.rank + 1} of {cluster.world_size} converts the " \
              f"{sum(r in held for items in splits.values() for r, _ in items)} files it holds" \
        if cluster.distributed else ""
    print(f"etl: image folder {root} -> {len(names)} classes {names[:10]}{'...' if len(names) > 10 else ''}, "
          f"{size}x{size} inputs{' (auto: from the median short side)' if not image_size else ''}{sharded}",
          flush=True)
    staging = output / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    mine_in_plan = [(split, index, relative) for split in SPLITS
                    for index, (relative, _) in enumerate(splits.get(split, [])) if relative in held]
    progress = Progress("etl images written", len(mine_in_plan))
    suffixes = {}
    for (split, index, _), (data, suffix) in zip(mine_in_plan, convert_all(root, mine_in_plan, size), strict=True):
        (staging / f"{split}-{index}").write_bytes(data)
        suffixes[(split, index)] = suffix
        progress.advance()
    suffixes = distributed.union(cluster, suffixes)
    counts = {}
    for split in SPLITS:
        folder = output / split
        entries, taken = [], set()
        counts[split] = {name: 0 for name in names}
        for index, (relative, label) in enumerate(splits.get(split, [])):
            name = _unique_name(folders.safe_file_name(Path(relative).name) + suffixes[(split, index)], taken)
            entry = LstEntry(index, label, f"{names[label]}/{name}")
            if relative in held:
                (folder / names[label]).mkdir(parents=True, exist_ok=True)
                (staging / f"{split}-{index}").replace(folder / entry.path)
            entries.append(entry)
            counts[split][names[label]] += 1
        if cluster.is_main:  # one copy of each manifest: every instance's output lands under one prefix
            folder.mkdir(parents=True, exist_ok=True)
            write_lst(folder / f"{split}.lst", entries)
            write_classes(folder, names)
            write_dataset_info(folder, size)
    staging.rmdir()
    undecodable = sum(suffix != ".png" for suffix in suffixes.values())
    manifest = {"source": str(root), "kind": "image_folder", "classes": names, "counts": counts,
                "totals": {split: sum(c.values()) for split, c in counts.items()},
                "undecodable_passed_to_check": undecodable, "validation_fraction": validation_fraction,
                "seed": seed, "image_size": [size, size, 3]}
    if cluster.is_main:
        meta = output / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        write_classes(meta, names)
        (meta / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    what = f"the dataset's {manifest['totals']}"
    if cluster.distributed:
        what = f"{len(mine_in_plan)} files of {what}" + (" and the manifests" if cluster.is_main else "")
    print(f"etl: wrote {what} to {output} ({undecodable} undecodable files left for the check)", flush=True)
    return manifest


def build_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        add_help=add_help,
        prog="etl.py",
        description="A CIFAR-100 archive or an image folder -> square PNG splits (train/validation/test) with "
                    ".lst manifests, as a SageMaker processing job. On several instances (ShardedByS3Key input, "
                    "/opt/ml/config/resourceconfig.json) the instances merge their file listings, make the "
                    "one-instance plan, and each converts the files it holds.",
        epilog="Example: python -m processing.etl --input cifar-100-python.tar.gz --output data/ "
               "--classes bicycle motorcycle",
    )
    parser.add_argument("--input", default=DEFAULT_INPUT,
                        help="archive path, a folder holding it, an image folder (one sub-folder per class, "
                             "optional train/valid/test), or an http(s) URL to download (MD5-checked, cached). "
                             "Default: %(default)s")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="output root. Default: %(default)s")
    parser.add_argument("--classes", nargs="+", default=[],
                        help="class names (their order is the model's output order); default: bicycle and "
                             "motorcycle from a CIFAR-100 archive, every class folder from an image folder")
    parser.add_argument("--validation-fraction", type=float, default=0.2,
                        help="share of each class's train images held out for validation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    parser.add_argument("--cache-dir", default=None, help="download cache (default: <output>/.cache)")
    parser.add_argument("--image-size", type=int, default=0,
                        help="side of the square model input in pixels; 0 (default) picks it: 32 for a CIFAR "
                             f"archive, for an image folder the largest of {AUTO_SIZES} not above its median "
                             "short side")
    parser.add_argument("--reviewed", default=None,
                        help="reviewed images as class folders (scones review export): they join the train "
                             "split only, fitted to the input size; a class the run lacks is skipped")
    parser.add_argument("--md5", default=None,
                        help="expected archive MD5 (checked automatically for the official URL)")
    return parser


def run(args: argparse.Namespace) -> int:
    classes = [c.strip() for item in args.classes for c in item.split(",") if c.strip()]
    try:
        with distributed.joined(distributed.for_processing_job()) as cluster:
            run_etl(args.input, Path(args.output), classes, args.validation_fraction, args.seed,
                    Path(args.cache_dir) if args.cache_dir else None, args.md5, args.image_size, cluster,
                    reviewed=Path(args.reviewed) if args.reviewed else None)
    except EtlError as exc:
        print(f"etl failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
