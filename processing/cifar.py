"""CIFAR-100 "python version": download with checksum, read, and write the format.

The official archive (``cifar-100-python.tar.gz``) holds three pickles written
by Python 2 -- ``train``, ``test`` and ``meta`` -- whose keys and strings are
Python 2 ``str``. Python 3 readers load them with ``encoding="bytes"`` (keys
become ``bytes``) or ``encoding="latin1"`` (keys become ``str``, torchvision's
choice). :func:`write_tarball` emits the same opcodes, so a synthetic archive
loads identically under both and a reader cannot tell it from the real one.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
#: The checksum torchvision verifies for the official archive.
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
ARCHIVE_NAME = "cifar-100-python.tar.gz"
ARCHIVE_DIR = "cifar-100-python"

#: Official coarse classes and their fine classes, in the archive's label order.
COARSE_TO_FINE: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
COARSE_LABEL_NAMES: tuple[str, ...] = tuple(COARSE_TO_FINE)
#: The archive orders fine labels alphabetically: bicycle is 8, motorcycle 48.
FINE_LABEL_NAMES: tuple[str, ...] = tuple(sorted(f for fines in COARSE_TO_FINE.values() for f in fines))

ProgressFn = Callable[[int, int], None]


class CifarFormatError(ValueError):
    """The archive is not CIFAR-100's python-pickle format; the message says what is missing."""


class ChecksumError(ValueError):
    """A downloaded or cached archive does not have the expected MD5."""


@dataclass(frozen=True)
class CifarSplit:
    """One pickle (``train`` or ``test``): images as N x 32 x 32 x 3 uint8 plus their metadata."""

    name: str
    images: np.ndarray
    fine_labels: np.ndarray
    coarse_labels: np.ndarray
    filenames: tuple[str, ...]


@dataclass(frozen=True)
class CifarArchive:
    fine_label_names: tuple[str, ...]
    coarse_label_names: tuple[str, ...]
    train: CifarSplit
    test: CifarSplit


# --------------------------------------------------------------------------- download


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    cache_dir: Path,
    md5: str | None = CIFAR100_MD5,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` into ``cache_dir`` unless a copy with the right MD5 is already there.

    The file is written to a temporary name and renamed only after the checksum
    matches, so an interrupted or corrupted download never poisons the cache.

    Raises:
        ChecksumError: the downloaded bytes do not match ``md5``.
        OSError: the URL cannot be read (with the URL in the message).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / (os.path.basename(url.split("?", 1)[0]) or ARCHIVE_NAME)
    if target.exists() and (md5 is None or md5_of(target) == md5):
        return target
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=".download-")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        try:
            response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - URL is the user's choice
        except OSError as exc:
            raise OSError(f"cannot download {url}: {exc}") from exc
        with response, os.fdopen(fd, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while block := response.read(1 << 20):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if md5 is not None and digest.hexdigest() != md5:
            raise ChecksumError(f"MD5 mismatch for {url}: got {digest.hexdigest()}, expected {md5}")
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def locate_archive(source: str | os.PathLike[str], cache_dir: Path, md5: str | None = CIFAR100_MD5,
                   progress: ProgressFn | None = None) -> Path:
    """Resolve an input to a local archive: a URL (downloaded), a tarball, or a folder holding one."""
    text = os.fspath(source)
    if "://" in text and not text.startswith("file://"):
        return download(text, cache_dir, md5=md5, progress=progress)
    path = Path(text[len("file://"):] if text.startswith("file://") else text)
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.name.endswith((".tar.gz", ".tgz", ".tar")))
        if not candidates:
            raise FileNotFoundError(f"no CIFAR-100 tarball (*.tar.gz) in {path}")
        preferred = [p for p in candidates if p.name == ARCHIVE_NAME]
        path = (preferred or candidates)[0]
    if not path.exists():
        raise FileNotFoundError(f"CIFAR-100 archive not found: {path}")
    return path


# --------------------------------------------------------------------------- read


def _text(value: object) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _field(entry: Mapping, key: str, member: str):
    for candidate in (key.encode(), key):
        if candidate in entry:
            return entry[candidate]
    raise CifarFormatError(f"{member}: missing key '{key}' (keys present: {sorted(_text(k) for k in entry)})")


def _load_member(tar: tarfile.TarFile, member: str) -> Mapping:
    try:
        handle = tar.extractfile(f"{ARCHIVE_DIR}/{member}")
    except KeyError as exc:
        raise CifarFormatError(f"archive has no '{ARCHIVE_DIR}/{member}'") from exc
    if handle is None:
        raise CifarFormatError(f"'{ARCHIVE_DIR}/{member}' is not a file")
    try:
        entry = pickle.load(handle, encoding="bytes")  # noqa: S301 - CIFAR ships as pickle
    except Exception as exc:  # any unpickling failure means a broken archive
        raise CifarFormatError(f"{member}: not a readable pickle ({exc})") from exc
    if not isinstance(entry, Mapping):
        raise CifarFormatError(f"{member}: expected a dict, got {type(entry).__name__}")
    return entry


def _read_split(tar: tarfile.TarFile, name: str) -> CifarSplit:
    entry = _load_member(tar, name)
    data = np.asarray(_field(entry, "data", name), dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise CifarFormatError(f"{name}: data has shape {data.shape}, expected (N, 3072)")
    fine = np.asarray(_field(entry, "fine_labels", name), dtype=np.int64)
    coarse = np.asarray(_field(entry, "coarse_labels", name), dtype=np.int64)
    filenames = tuple(_text(f) for f in _field(entry, "filenames", name))
    if not (len(fine) == len(coarse) == len(filenames) == data.shape[0]):
        raise CifarFormatError(
            f"{name}: {data.shape[0]} images but {len(fine)} fine labels, "
            f"{len(coarse)} coarse labels, {len(filenames)} filenames"
        )
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return CifarSplit(name, images, fine, coarse, filenames)


def read_archive(path: Path) -> CifarArchive:
    """Parse a ``cifar-100-python.tar.gz``; raises :class:`CifarFormatError` on any deviation."""
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise CifarFormatError(f"{path}: not a readable tar archive ({exc})") from exc
    with tar:
        meta = _load_member(tar, "meta")
        fine_names = tuple(_text(n) for n in _field(meta, "fine_label_names", "meta"))
        coarse_names = tuple(_text(n) for n in _field(meta, "coarse_label_names", "meta"))
        return CifarArchive(fine_names, coarse_names, _read_split(tar, "train"), _read_split(tar, "test"))


# --------------------------------------------------------------------------- write


class _Py2Str(str):
    """Marks a string to be pickled as a Python 2 ``str`` (SHORT_BINSTRING / BINSTRING)."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler is the one with a dispatch table
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj: _Py2Str) -> None:
        raw = obj.encode("latin1")
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + len(raw).to_bytes(4, "little") + raw)
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2str


def _py2_dumps(entry: dict) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(entry)
    return buffer.getvalue()


def _split_entry(split: CifarSplit, batch_label: str) -> dict:
    chw = np.ascontiguousarray(split.images.transpose(0, 3, 1, 2)).reshape(len(split.images), 3072)
    return {
        _Py2Str("filenames"): [_Py2Str(f) for f in split.filenames],
        _Py2Str("batch_label"): _Py2Str(batch_label),
        _Py2Str("fine_labels"): [int(v) for v in split.fine_labels],
        _Py2Str("coarse_labels"): [int(v) for v in split.coarse_labels],
        _Py2Str("data"): chw.astype(np.uint8),
    }


def write_tarball(path: Path, train: CifarSplit, test: CifarSplit,
                  fine_label_names: Sequence[str] = FINE_LABEL_NAMES,
                  coarse_label_names: Sequence[str] = COARSE_LABEL_NAMES) -> Path:
    """Write an archive in the official layout: ``cifar-100-python/{meta,train,test}``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    members = {
        "meta": _py2_dumps({
            _Py2Str("fine_label_names"): [_Py2Str(n) for n in fine_label_names],
            _Py2Str("coarse_label_names"): [_Py2Str(n) for n in coarse_label_names],
        }),
        "train": _py2_dumps(_split_entry(train, "training batch 1 of 1")),
        "test": _py2_dumps(_split_entry(test, "testing batch 1 of 1")),
    }
    tmp = path.with_name(path.name + ".partial")
    mtime = time.time()
    with tarfile.open(tmp, "w:gz") as tar:
        folder = tarfile.TarInfo(ARCHIVE_DIR)
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, mtime
        tar.addfile(folder)
        for name, payload in members.items():
            info = tarfile.TarInfo(f"{ARCHIVE_DIR}/{name}")
            info.size, info.mode, info.mtime = len(payload), 0o644, mtime
            tar.addfile(info, io.BytesIO(payload))
    shutil.move(tmp, path)
    return path
