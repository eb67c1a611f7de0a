"""What each notification says: written once, sent by the local engine, the deployer and the Lambdas."""

from __future__ import annotations

from typing import Any

from scones.registry import ModelRegistry, ModelVersion


def _summary(version: ModelVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    metrics = version.metrics.get("multiclass_classification_metrics", {})
    return {"version": version.version, "status": version.status, "accuracy": version.accuracy,
            "weighted_f1": metrics.get("weighted_f1", {}).get("value"), "model": version.model_data_url,
            "per_class": metrics.get("per_class")}


def registration(registry: ModelRegistry, version: ModelVersion) -> tuple[str, dict[str, Any]]:
    """A new version waits for approval: the same side-by-side comparison the dashboard's version page shows."""
    from scones.registry.comparison import compare

    approved = registry.latest_approved(version.group)
    comparison = compare(version, approved)
    subject = f"{version.group} v{version.version} registered ({version.status}): {comparison.summary('approved')}"
    return subject, {"group": version.group, "new": _summary(version), "approved": _summary(approved),
                     "comparison": comparison.to_dict("approved"),
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


def pipeline_failed(record) -> tuple[str, dict[str, Any]]:
    """A failed pipeline execution: which step, why, its log tail, and the command that shows it all."""
    failed = next((step for step in record.steps if step.status == "Failed"), None)
    step = failed.name if failed else "?"
    return (f"pipeline {record.pipeline_name} failed at {step}: {record.execution_id}",
            {"pipeline": record.pipeline_name, "execution": record.execution_id, "step": step,
             "reason": record.failure_reason, "log_tail": (failed.log_tail if failed else [])[-20:],
             "see": f"scones pipeline status {record.execution_id}"})


def drift(capture: str, reference: str, drifted: list[dict], plot: str) -> tuple[str, dict[str, Any]]:
    """Live traffic no longer looks like the evaluation: which tests fired, their statistics, the picture."""
    names = ", ".join(t["name"] for t in drifted)
    return (f"drift in live traffic vs the evaluation of {reference}: {names}",
            {"capture": capture, "reference": reference, "plot": plot,
             "tests": [{k: t.get(k) for k in ("name", "test", "statistic", "p_value", "note")} for t in drifted]})
