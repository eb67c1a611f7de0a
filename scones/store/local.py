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


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when possible (a 1,200-image dataset moves in milliseconds), else copy.

    Objects are immutable here -- every write goes to a new file that replaces
    the old one with ``os.replace`` -- so a link is as safe as a copy while the
    job treats its inputs as read-only, as SageMaker's File mode expects.
    """
    tmp = target.with_name(f".put-{target.name}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


class LocalStore(ArtifactStore):
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    @classmethod
    def from_uri(cls, uri: str) -> LocalStore:
        return cls(Path(uri[len("file://"):]))

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
        parsed = S3Uri.parse(prefix)
        bucket_root = self.root / parsed.bucket
        start = bucket_root / parsed.key
        if start.is_file():
            yield parsed.key, start
            return
        base = start if start.is_dir() else None
        if base is None:
            return
        for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".put-")):
            yield path.relative_to(bucket_root).as_posix(), path

    def list(self, prefix: str) -> list[tuple[str, int]]:
        bucket = S3Uri.parse(prefix).bucket
        return [(f"s3://{bucket}/{key}", path.stat().st_size) for key, path in self._walk(prefix)]

    def download(self, prefix: str, folder: Path) -> list[Path]:
        prefix_key = S3Uri.parse(prefix).key
        written = []
        for key, path in self._walk(prefix):
            target = Path(folder) / relative_key(key, prefix_key)
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(path, target)
            written.append(target)
        return written

    def upload(self, folder: Path, prefix: str) -> list[str]:
        uris = []
        base = S3Uri.parse(prefix)
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            uri = str(base.join(path.relative_to(folder).as_posix()))
            target = self.path_of(uri)
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(path, target)
            uris.append(uri)
        return uris

    def exists(self, uri: str) -> bool:
        return self.path_of(uri).is_file()

    def delete(self, uri: str) -> None:
        self.path_of(uri).unlink(missing_ok=True)
