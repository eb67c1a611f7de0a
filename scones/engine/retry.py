"""Step retry policies, as SageMaker applies them: ``RetryPolicies`` on a step of the definition.

A policy names the exception types it retries, the first interval, the backoff rate and either
``MaxAttempts`` (at most 20) or ``ExpireAfterMin`` (at most 14,400). ``Step.*`` types are the
pipeline service's own faults; ``SageMaker.*`` types are a job's infrastructure failures and are
allowed on job steps only. A job's own error (``AlgorithmError``: the code exited non-zero) is
never retried, in SageMaker or here.

What can happen on this machine: a job process ended by a signal the engine did not send (the
kernel's out-of-memory killer, a crash in native code) is SageMaker's ``JOB_INTERNAL_ERROR`` -- the
instance failed, not the code. The other types cannot occur locally; policies naming them are
checked and kept, as SageMaker keeps them.
"""

from __future__ import annotations

STEP_TYPES = ("Step.SERVICE_FAULT", "Step.THROTTLING")
JOB_TYPES = ("SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT")
#: Step types that take retry policies, and those whose policies may name SageMaker.* job failures.
RETRYING_STEPS = ("Processing", "Training", "Tuning", "Transform", "Model", "RegisterModel")
JOB_STEPS = ("Processing", "Training", "Tuning", "Transform")
MAX_ATTEMPTS, MAX_EXPIRE_AFTER_MIN = 20, 14400
#: What a job killed by a signal it was not sent is, in SageMaker's words.
INTERNAL_ERROR = "SageMaker.JOB_INTERNAL_ERROR"


def policy_errors(step_type: str, policies: list[dict] | None) -> list[str]:
    """Why SageMaker would refuse these policies on a step of this type (empty: it accepts them)."""
    if not policies:
        return []
    if step_type not in RETRYING_STEPS:
        return [f"a {step_type} step takes no RetryPolicies (only {', '.join(RETRYING_STEPS)} steps do)"]
    errors = []
    for index, policy in enumerate(policies):
        where = f"RetryPolicies[{index}]"
        kinds = policy.get("ExceptionType") or []
        allowed = STEP_TYPES + (JOB_TYPES if step_type in JOB_STEPS else ())
        errors += [f"{where}.ExceptionType {kind!r} is not one of {list(allowed)}" for kind in kinds
                   if kind not in allowed]
        if not kinds:
            errors.append(f"{where}.ExceptionType must name at least one exception type")
        if ("MaxAttempts" in policy) == ("ExpireAfterMin" in policy):
            errors.append(f"{where} needs exactly one of MaxAttempts and ExpireAfterMin")
        if "MaxAttempts" in policy and not 1 <= _number(policy["MaxAttempts"]) <= MAX_ATTEMPTS:
            errors.append(f"{where}.MaxAttempts must be 1 to {MAX_ATTEMPTS}, got {policy['MaxAttempts']!r}")
        if "ExpireAfterMin" in policy and not 0 <= _number(policy["ExpireAfterMin"]) <= MAX_EXPIRE_AFTER_MIN:
            errors.append(f"{where}.ExpireAfterMin must be 0 to {MAX_EXPIRE_AFTER_MIN}, "
                          f"got {policy['ExpireAfterMin']!r}")
        for member in ("IntervalSeconds", "BackoffRate"):
            if member in policy and _number(policy[member]) < 0:
                errors.append(f"{where}.{member} must not be negative, got {policy[member]!r}")
    return errors


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def retry_delay(policies: list[dict] | None, exception_type: str | None, attempts: int,
                seconds_since_first: float) -> float | None:
    """Seconds to wait before the next attempt, or None when no policy retries this failure again.

    ``attempts`` is how many attempts have been made; ``MaxAttempts`` counts the retries after the first,
    as the SDK documents it. The first policy naming the failure's type decides.
    """
    if not exception_type:
        return None
    for policy in policies or []:
        if exception_type not in (policy.get("ExceptionType") or []):
            continue
        interval = float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0)) ** (attempts - 1)
        if "MaxAttempts" in policy and attempts - 1 >= int(policy["MaxAttempts"]):  # retries, not tries
            return None
        if "ExpireAfterMin" in policy and seconds_since_first + interval > float(policy["ExpireAfterMin"]) * 60:
            return None
        return interval
    return None
