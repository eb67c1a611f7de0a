"""The local endpoint: SageMaker's serving contract over HTTP, with data capture and hot swaps."""
