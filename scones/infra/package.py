"""The Lambda code zip: ``lambdas/`` plus the ``scones`` modules the handlers import (pure Python)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from scones.infra.template import ROOT

PACKAGES = ("lambdas", "scones")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def build_lambda_zip(target: Path) -> Path:
    """Deterministic (sorted, fixed timestamps): unchanged code gives the same bytes and S3 ETag."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in PACKAGES:
            for path in sorted((ROOT / package).rglob("*.py")):
                info = zipfile.ZipInfo(path.relative_to(ROOT).as_posix(), _EPOCH)
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes())
    return target
