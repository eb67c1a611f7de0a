"""Training entry point (SageMaker script mode), the networks, and the serving handler.

``train.py`` runs unchanged in a SageMaker PyTorch training job and locally;
``inference.py`` is the handler SageMaker's PyTorch serving container calls and
the local endpoint and evaluation step call too.
"""
