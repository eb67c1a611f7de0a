"""The reviewed-images prefix before anything is exported: a placeholder, because SageMaker refuses a
processing input with no objects under it and most runs have no reviewed images.

Its own module: ``scones.pipeline_service`` (in the Lambda zip) needs this and nothing of the export.
"""

from __future__ import annotations

PLACEHOLDER = "README.txt"
PLACEHOLDER_TEXT = (b"Reviewed images staged for training by `scones review export`, as <class>/<item>.png.\n"
                    b"The pipeline's ReviewedDataUrl; its ETL joins them to the train split.\n")


def ensure_reviewed_input(store, uri: str) -> None:
    """Give the staging prefix its placeholder when it holds nothing, so a first run's input exists."""
    if not store.list(uri):
        store.put_bytes(f"{uri.rstrip('/')}/{PLACEHOLDER}", PLACEHOLDER_TEXT)
