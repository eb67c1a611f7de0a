"""The local artifact store: ``s3://bucket/key`` is the file ``<root>/bucket/key``."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from scones.errors import NotFound
from scones.store import ArtifactStore, relative_key
from scones.uris import S3Uri


def _link_or_copy(source: str, target: str) -> None:
    """Hard-link when possible (a 1,200-image dataset moves in milliseconds), else copy.

    Objects are immutable here -- every write goes to a new file that replaces
    the old one with ``os.replace`` -- so a link is as safe as a copy while the
    job treats its inputs as read-only, as SageMaker's File mode expects.
    (Plain strings, not Path objects: a dataset is thousands of calls.)
    """
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".put-{name}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _files(base: str) -> list[str]:
    """Every file under ``base`` as a path relative to it (``/``-separated), sorted; staging files left out."""
    found = []
    for folder, _, names in os.walk(base):
        relative = os.path.relpath(folder, base)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        found.extend(prefix + name for name in names if not name.startswith(".put-"))
    return sorted(found)


class _Folders:
    """``mkdir -p`` once per folder, not once per file."""

    def __init__(self) -> None:
        self.made: set[str] = set()

    def ensure(self, path: str) -> None:
        folder = os.path.dirname(path)
        if folder not in self.made:
            os.makedirs(folder, exist_ok=True)
            self.made.add(folder)


class LocalStore(ArtifactStore):
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    @classmethod
    def from_uri(cls, uri: str, clients=None, **kwargs) -> LocalStore:
        return cls(Path(uri[len("file://"):]))

    def local_path(self, uri: str) -> Path:
        return self.path_of(uri)

    def path_of(self, uri: str) -> Path:
        """The file behind a URI (which need not exist yet)."""
        parsed = S3Uri.parse(uri)
        return self.root / parsed.bucket / parsed.key

    def put_bytes(self, uri: str, data: bytes) -> None:
        target = self.path_of(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)  # readers never see half an object

    def get_bytes(self, uri: str) -> bytes:
        path = self.path_of(uri)
        if not path.is_file():
            raise NotFound(f"no object at {uri}")
        return path.read_bytes()

    def _walk(self, prefix: str):
        """(key, file path) under a prefix: a key naming one object, or a folder of them."""
        parsed = S3Uri.parse(prefix)
        bucket_root = self.root / parsed.bucket
        start = bucket_root / parsed.key
        if start.is_file():
            yield parsed.key, str(start)
            return
        if not start.is_dir():
            return
        key_prefix = start.relative_to(bucket_root).as_posix()
        key_prefix = "" if key_prefix == "." else key_prefix + "/"
        base = str(start)
        for relative in _files(base):
            yield key_prefix + relative, os.path.join(base, relative)

    def list(self, prefix: str) -> list[tuple[str, int]]:
        bucket = S3Uri.parse(prefix).bucket
        return [(f"s3://{bucket}/{key}", os.stat(path).st_size) for key, path in self._walk(prefix)]

    def download(self, prefix: str, folder: Path, shard: tuple[int, int] = (0, 1)) -> list[Path]:
        prefix_key = S3Uri.parse(prefix).key
        written, folders = [], _Folders()
        index, count = shard
        for key, path in list(self._walk(prefix))[index::count]:
            target = os.path.join(folder, relative_key(key, prefix_key))
            folders.ensure(target)
            _link_or_copy(path, target)
            written.append(Path(target))
        return written

    def upload(self, folder: Path, prefix: str) -> list[str]:
        uris, folders = [], _Folders()
        base = S3Uri.parse(prefix)
        target_root = os.path.join(self.root, base.bucket, base.key) if base.key else os.path.join(self.root,
                                                                                                  base.bucket)
        for relative in _files(str(folder)):
            target = os.path.join(target_root, relative)
            folders.ensure(target)
            _link_or_copy(os.path.join(folder, relative), target)
            uris.append(str(base.join(relative)))
        return uris

    def exists(self, uri: str) -> bool:
        return self.path_of(uri).is_file()

    def delete(self, uri: str) -> None:
        self.path_of(uri).unlink(missing_ok=True)
