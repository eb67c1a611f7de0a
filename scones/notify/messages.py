"""What each notification says: written once, sent by the local engine, the deployer and the Lambdas."""

from __future__ import annotations

from typing import Any

from common.metrics import metric_value, metrics_of
from scones.registry import ModelRegistry, ModelVersion


def _summary(version: ModelVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {"version": version.version, "status": version.status, "accuracy": version.accuracy,
            "weighted_f1": metric_value(version.metrics, "weighted_f1"), "model": version.model_data_url,
            "per_class": metrics_of(version.metrics).get("per_class")}


def registration(registry: ModelRegistry, version: ModelVersion, live=None) -> tuple[str, dict[str, Any]]:
    """A new version waits for approval: the same side-by-side comparison the dashboard's version page shows.

    ``live`` is the version the endpoint serves, when the caller can ask it (a callable returning it, or
    None): that is what the candidate would replace. The newest approved version is only the fallback,
    labelled as such: it may be one that failed to deploy and never served.
    """
    from scones.registry.comparison import compare

    serving = live() if callable(live) else None
    label = "live" if serving is not None else "approved"
    approved = serving or registry.latest_approved(version.group)
    comparison = compare(version, approved)
    subject = f"{version.group} v{version.version} registered ({version.status}): {comparison.summary(label)}"
    return subject, {"group": version.group, "new": _summary(version), "approved": _summary(approved),
                     "compared_with": label, "comparison": comparison.to_dict(label),
                     "approve_with": f"scones registry approve {version.version} --reason '...'",
                     "review_at": f"scones ui, then /versions/{version.version}"}


def deployment(endpoint: str, decision: dict[str, Any], version: ModelVersion | None) -> tuple[str, dict]:
    action = decision["action"]
    subject = {"deployed": f"{endpoint}: v{decision['version']} deployed",
               "rolled_back": f"{endpoint}: rolled back to v{decision['version']}",
               "no_rollback_target": f"{endpoint}: rejected v{decision['version']} is live, nothing to roll back to",
               "deploy_failed": f"{endpoint}: approved v{decision['version']} FAILED to deploy",
               "rollback_failed": f"{endpoint}: rollback FAILED, rejected v{decision['version']} still serving",
               "no_deployable_version": f"{endpoint}: no approved version deploys",
               }.get(action, f"{endpoint}: {action}")
    return subject, {"endpoint": endpoint, **decision, "model": _summary(version)}


def human_review(image: str, error: str, cause: str) -> tuple[str, dict[str, Any]]:
    return f"human review needed: {image} ({error})", {"image": image, "error": error, "cause": cause}


def _failure(pipeline: str, execution: str, step: str, reason: str, log_tail: list[str], see: str,
             **extra: Any) -> tuple[str, dict[str, Any]]:
    return (f"pipeline {pipeline} failed at {step}: {execution}",
            {"pipeline": pipeline, "execution": execution, "step": step, "reason": reason,
             "log_tail": log_tail[-20:], "see": see, **extra})


def pipeline_failed(record) -> tuple[str, dict[str, Any]]:
    """A failed local execution: which step, why, its log tail, and the command that shows it all."""
    failed = next((step for step in record.steps if step.status == "Failed"), None)
    return _failure(record.pipeline_name, record.execution_id, failed.name if failed else "?",
                    record.failure_reason, failed.log_tail if failed else [],
                    f"scones pipeline status {record.execution_id}")


#: CloudWatch log groups of SageMaker jobs, by the metadata key a pipeline step names its job under.
JOB_LOG_GROUPS = {"ProcessingJob": "/aws/sagemaker/ProcessingJobs", "TrainingJob": "/aws/sagemaker/TrainingJobs",
                  "TuningJob": "/aws/sagemaker/TrainingJobs"}


def pipeline_failed_in_sagemaker(status) -> tuple[str, dict[str, Any]]:
    """A failed SageMaker execution (``pipeline_service.ExecutionStatus``), worded as the local one.

    SageMaker keeps job logs in CloudWatch, so the message names the log group and the
    command that tails the failed job's stream instead of carrying the lines.
    """
    failed = next((step for step in status.steps if step.get("StepStatus") == "Failed"), {})
    job_kind, job_arn = next(((kind, value.get("Arn", "")) for kind, value in failed.get("Metadata", {}).items()
                              if kind in JOB_LOG_GROUPS), ("", ""))
    job = job_arn.rsplit("/", 1)[-1]
    logs = (f"aws logs tail {JOB_LOG_GROUPS[job_kind]} --log-stream-name-prefix {job}" if job else "")
    pipeline = status.arn.split(":pipeline/", 1)[-1].split("/execution/", 1)[0]
    return _failure(pipeline, status.arn.rsplit("/", 1)[-1], failed.get("StepName", "?"),
                    failed.get("FailureReason") or status.failure_reason, [],
                    f"scones pipeline status {status.arn}", logs=logs, job=job_arn)


def live_accuracy_low(below: dict[str, dict]) -> tuple[str, dict[str, Any]]:
    """People's answers say a version is worse live than its evaluation measured (interval wholly below it)."""
    names = ", ".join(f"v{v} {e['accuracy']:.3f} (CI {e['ci_low']:.3f}-{e['ci_high']:.3f}) vs evaluation "
                      f"{e['evaluation_accuracy']:.3f}" for v, e in below.items())
    return (f"live accuracy below the evaluation: {names}"[:200],
            {"versions": {v: {k: e[k] for k in ("reviewed", "correct", "accuracy", "ci_low", "ci_high",
                                                "evaluation_accuracy", "population")} for v, e in below.items()}})


def drift(capture: str, reference: str, drifted: list[dict], plot: str) -> tuple[str, dict[str, Any]]:
    """Live traffic no longer looks like the evaluation: which tests fired, their statistics, the picture."""
    names = ", ".join(t["name"] for t in drifted)
    return (f"drift in live traffic vs the evaluation of {reference}: {names}",
            {"capture": capture, "reference": reference, "plot": plot,
             "tests": [{k: t.get(k) for k in ("name", "test", "statistic", "p_value", "note")} for t in drifted]})
