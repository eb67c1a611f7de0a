"""SageMaker Pipeline definitions, one package per pipeline (``pipelines/<name>/pipeline.py``).

Each exposes ``get_pipeline(region, role=None, default_bucket=None, ...)`` in the
style of AWS's SageMaker Projects seed code; ``run-pipeline`` and
``get-pipeline-definition`` drive any of them by module name.
"""
