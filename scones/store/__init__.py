"""Artifact store: where ``s3://`` URIs live -- S3 itself, or a local folder.

One interface, two implementations chosen by URI (``file:///path`` or
``s3://``), imported lazily. The local pipeline engine, the deployer and the
CLI speak only this interface, so the same code path serves both worlds.

Prefix semantics follow SageMaker's ``S3Prefix`` inputs, restricted to whole
path segments: ``s3://b/data/train`` covers ``data/train`` itself and
``data/train/...``, never ``data/train2/...``.
"""

from __future__ import annotations

import abc
import hashlib
from pathlib import Path
from typing import Any

from scones.backends import ClientFactory, open_backend


class ArtifactStore(abc.ABC):
    """Objects addressed by ``s3://bucket/key``."""

    @classmethod
    @abc.abstractmethod
    def from_uri(cls, uri: str, clients: ClientFactory | None = None, **kwargs: Any) -> ArtifactStore:
        """The backend a URI names (:mod:`scones.backends`); ``clients(service, region=None)`` makes its AWS clients."""

    def local_path(self, uri: str) -> Path | None:
        """The file behind ``uri`` when this store keeps objects as local files, else None."""
        return None

    @abc.abstractmethod
    def put_bytes(self, uri: str, data: bytes) -> None:
        """Write one object, replacing any previous one."""

    @abc.abstractmethod
    def get_bytes(self, uri: str) -> bytes:
        """Read one object. Raises :class:`scones.errors.NotFound`."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[tuple[str, int]]:
        """``(uri, size)`` of every object under ``prefix`` (see module docstring), sorted."""

    @abc.abstractmethod
    def download(self, prefix: str, folder: Path, shard: tuple[int, int] = (0, 1)) -> list[Path]:
        """Copy every object under ``prefix`` into ``folder``, keeping relative paths.

        An object whose key *is* the prefix lands as ``folder/<basename>``, as
        SageMaker does for ``S3Prefix`` inputs naming a single object. ``shard=(i, n)``
        copies only instance ``i``'s share of ``n`` (``ShardedByS3Key``: every n-th
        object of the sorted listing, so each instance gets about 1/n of the objects).
        """

    @abc.abstractmethod
    def upload(self, folder: Path, prefix: str) -> list[str]:
        """Copy every file under ``folder`` to ``prefix/<relative path>``; returns the URIs."""

    @abc.abstractmethod
    def delete(self, uri: str) -> None:
        """Remove one object; a missing one is not an error."""

    def exists(self, uri: str) -> bool:
        return any(item == uri for item, _ in self.list(uri))

    def sync(self, folder: Path, prefix: str) -> list[str]:
        """Make ``prefix`` mirror ``folder`` exactly: upload every file, delete objects the folder lacks.

        Staging a user's folder this way means a deleted image is gone from the data too, so the
        content fingerprint changes and a cached ETL runs again.
        """
        uploaded = self.upload(folder, prefix)
        keep = set(uploaded)
        for uri, _ in self.list(prefix):
            if uri not in keep:
                self.delete(uri)
        return uploaded

    def fingerprint(self, prefix: str) -> str:
        """A digest of every object under ``prefix`` (names and contents): equal digests, equal data."""
        digest = hashlib.sha256()
        for uri, size in self.list(prefix):
            digest.update(f"{uri[len(prefix):]}\0{size}\0".encode())
            digest.update(hashlib.sha256(self.get_bytes(uri)).digest())
        return digest.hexdigest()

    def put_file(self, path: Path, uri: str) -> None:
        self.put_bytes(uri, Path(path).read_bytes())


def relative_key(key: str, prefix_key: str) -> str | None:
    """Where ``key`` lands under ``prefix_key``, or None when it is outside it."""
    if key == prefix_key:
        return key.rsplit("/", 1)[-1]
    base = prefix_key.rstrip("/") + "/"
    if prefix_key == "" or key.startswith(base):
        return key[len(base):] if prefix_key else key
    return None


def open_store(uri: str, clients: ClientFactory | None = None) -> ArtifactStore:
    """``file:///abs/path`` -> local folder store; ``s3://`` -> S3 (its client from ``clients``)."""
    return open_backend("store", uri, clients)
