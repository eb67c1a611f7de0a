"""SageMaker's ``model.tar.gz`` convention: the model folder packed flat, unpacked on load."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path


def pack_model_dir(model_dir: Path, target: Path) -> Path:
    """Pack ``model_dir`` as SageMaker does after training: members relative to the folder.

    Members are sorted and their times zeroed so the same model gives the same
    bytes, which lets a re-run hit the step cache and makes artifacts diffable.
    """
    model_dir, target = Path(model_dir), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(model_dir.rglob("*")):
            if "__pycache__" in path.parts:
                continue
            info = tar.gettarinfo(str(path), arcname=path.relative_to(model_dir).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_file():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    with open(target, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
        out.write(buffer.getvalue())
    return target


def unpack_model(tarball: Path, into: Path) -> Path:
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:gz") as tar:
        tar.extractall(into, filter="data")
    return into
