"""SageMaker processing-job entry points: CIFAR-100 ETL, corrupt-image check, evaluation.

Every module here runs as a plain program with SageMaker's container
conventions (``/opt/ml/processing/...`` paths as argument defaults) and
depends only on the standard library, numpy, Pillow and, for evaluation, the
model artifact's own serving code.
"""
