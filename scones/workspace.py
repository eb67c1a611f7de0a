"""Where local state lives: one folder (``SCONES_HOME``, default ``./.scones``).

Everything the local backends keep -- the artifact store that stands in for
S3, the SQLite registry, pipeline runs, endpoint capture -- sits under it, so
``rm -rf .scones`` is a full reset and two checkouts never share state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def from_env(cls) -> Workspace:
        return cls(Path(os.environ.get("SCONES_HOME", ".scones")).expanduser().resolve())

    def path(self, *parts: str) -> Path:
        target = self.root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def steps(self) -> Path:
        """Outputs of steps run one at a time with ``scones data|train|evaluate``."""
        return self.root / "steps"

    @property
    def store(self) -> Path:
        """The local artifact store: ``s3://bucket/key`` lives at ``store/bucket/key``."""
        return self.root / "store"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def registry_db(self) -> Path:
        return self.root / "registry.db"

    @property
    def synthetic_archive(self) -> Path:
        return self.data / "cifar-100-python.tar.gz"


def definition_cache() -> Path:
    """Rendered definitions, shared by every workspace of this user (``SCONES_CACHE_DIR``, else XDG's cache).

    A rendering depends only on the sources, the arguments and the SDK version (the key),
    so a new workspace -- a fresh ``SCONES_HOME``, a CI job, a second checkout of the same
    code -- reuses it instead of paying the SDK import again.
    """
    base = os.environ.get("SCONES_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "scones")
    return Path(base) / "definitions"
