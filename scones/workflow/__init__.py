"""The inference workflow on this machine: the deployable definition (``inference_workflow``) run locally.

``runtime`` is the local Step Functions world (moto's interpreter) and Lambda service (the
handlers the task table names, called in-process); ``classify`` is ``scones classify``'s client
over it; ``cache`` keeps rendered definitions so a run need not import the SDK.
"""
