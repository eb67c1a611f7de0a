"""The Lambda code zip: the handlers and exactly the project modules they import (pure Python).

Only the import closure of the handler modules named in the template goes in
(:func:`common.packaging.closure`): the dashboard, the local engine and the CLI stay
out, so the zip is small, cold starts load less, and a handler that grows an import
of something heavy shows up in the size budget test.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from common.packaging import closure
from scones.infra.template import FUNCTIONS, ROOT

_EPOCH = (1980, 1, 1, 0, 0, 0)


#: Modules a function reaches by name rather than by import: the backends it opens by URI in AWS
#: (the review task's ``REVIEW_QUEUE`` is ``a2i://...``), so the import closure alone would miss them.
BY_NAME = ("scones.review.a2i",)


def handler_modules() -> list[str]:
    return sorted({spec.module for spec in FUNCTIONS.values()} | set(BY_NAME))


def build_lambda_zip(target: Path) -> Path:
    """Deterministic (sorted, fixed timestamps): unchanged code gives the same bytes and S3 ETag."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in closure(ROOT, handler_modules()).items():
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED  # a bare ZipInfo would be stored uncompressed
            archive.writestr(info, data)
    return target
