"""Step code, packaged and content-addressed, so a pipeline definition builds offline.

The SageMaker SDK uploads local ``code=``/``source_dir`` to S3 while it renders
the definition, which needs credentials and a network. We package the step
code ourselves and hand the SDK ``s3://`` URIs instead; the artifact store
(S3 or the local folder) uploads the bytes before the pipeline is upserted or
run. The key holds a digest of the contents, so unchanged code keeps its URI
and SageMaker step caching stays valid.

Processing steps get a zipapp (``python3 etl.pyz`` runs its ``__main__``), which
lets a ``ScriptProcessor`` run multi-module code from one S3 object; training
gets the ``sourcedir.tar.gz`` that SageMaker's training toolkit unpacks.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "processing", "training")
#: zipapp name -> module whose ``main()`` it runs
PROCESSING_ENTRY_POINTS = {"etl.pyz": "processing.etl", "check.pyz": "processing.check",
                           "evaluate.pyz": "processing.evaluate", "summarize.pyz": "processing.batch_summary"}
#: The monitoring job runs the platform's own drift check (scones.monitor.job) on capture in S3; its
#: zipapp holds that module's import closure, pure Python over numpy/pandas/scipy/boto3 (all in the
#: PyTorch image).
MONITOR_APP = "monitor.pyz"
MONITOR_ENTRY = "scones.monitor.job"
TRAINING_SOURCE = "sourcedir.tar.gz"
TRAINING_PROGRAM = "train.py"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _sources() -> dict[str, bytes]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            files[f"{package}/{path.name}"] = path.read_bytes()
    return files


def _launcher(module: str) -> bytes:
    return f"import sys\n\nfrom {module} import main\n\nsys.exit(main())\n".encode()


def _zipapp(files: dict[str, bytes], main_module: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted({**files, "__main__.py": _launcher(main_module)}.items()):
            archive.writestr(zipfile.ZipInfo(name, _EPOCH), data)
    return buffer.getvalue()


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as compressed:
        compressed.write(raw.getvalue())
    return out.getvalue()


@dataclass(frozen=True)
class StepCode:
    """Packaged step code and the S3 prefix it belongs under."""

    prefix: str  # s3://bucket/<base prefix>/code/<digest>
    files: dict[str, bytes]

    def uri(self, name: str) -> str:
        if name not in self.files:
            raise KeyError(f"no step code named {name!r}; have {sorted(self.files)}")
        return f"{self.prefix}/{name}"

    def upload(self, store) -> list[str]:
        """Put every file into ``store`` (an :class:`scones.store.ArtifactStore`); returns the URIs."""
        uris = []
        for name, data in self.files.items():
            uri = self.uri(name)
            if not store.exists(uri):
                store.put_bytes(uri, data)
            uris.append(uri)
        return uris


def build_step_code(bucket: str, base_prefix: str) -> StepCode:
    sources = _sources()
    files = {name: _zipapp(sources, module) for name, module in PROCESSING_ENTRY_POINTS.items()}
    files[TRAINING_SOURCE] = _tar_gz({**sources, TRAINING_PROGRAM: _launcher("training.train")})
    from common.packaging import closure

    files[MONITOR_APP] = _zipapp(closure(ROOT, [MONITOR_ENTRY]), MONITOR_ENTRY)
    digest = hashlib.sha256(b"".join(hashlib.sha256(files[n]).digest() for n in sorted(files))).hexdigest()[:16]
    return StepCode(f"s3://{bucket}/{base_prefix.strip('/')}/code/{digest}", files)
