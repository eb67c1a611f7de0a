"""Workflow configuration and error names: no SDK import, so callers stay light."""

from __future__ import annotations

from dataclasses import dataclass, field

#: What the Lambda service itself throws; always worth a retry.
LAMBDA_SERVICE_ERRORS = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                         "Lambda.TooManyRequestsException"]
#: Raised by the classifier when the endpoint is down or throttled.
TRANSIENT_ERRORS = ["EndpointUnavailableError"]
REVIEW_ERROR = "SentToHumanReview"


@dataclass(frozen=True)
class WorkflowConfig:
    """Names and knobs; function names may be plain names or ARNs."""

    serialize_function: str = "scones-serialize-image-data"
    classifier_function: str = "scones-classifier"
    filter_function: str = "scones-filter-low-confidence"
    review_topic_arn: str = "arn:aws:sns:us-east-1:123456789012:scones-human-review"
    retry_interval_seconds: int = 2
    retry_max_attempts: int = 3
    retry_backoff_rate: float = 2.0
    max_concurrency: int = 10
    extra_retry: dict[str, list[str]] = field(default_factory=lambda: {"ClassifyImage": TRANSIENT_ERRORS})
