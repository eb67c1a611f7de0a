"""What the dashboard's pages show, computed from the registry, the endpoint and the run records.

Kept apart from the Flask routes so each rule ("which version is deploying?",
"what does a failed run show first?") is one tested function, not template logic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from scones.engine.records import ExecutionRecord
from scones.registry import APPROVED, ModelVersion


@dataclass(frozen=True)
class Deployment:
    """Which version serves, which one the endpoint is moving to, which ones failed to deploy."""

    endpoint_running: bool
    live: int | None
    deploying: int | None
    failed: dict[int, str] = field(default_factory=dict)

    def marker(self, version: int) -> str:
        if version == self.live:
            return "live"
        if version == self.deploying:
            return "deploying"
        if version in self.failed:
            return "failed to deploy"
        return ""


def deployment(versions: list[ModelVersion], endpoint: dict | None) -> Deployment:
    """The endpoint serves the newest approved version that loads; until it does, that version is deploying.

    Without a running endpoint nothing deploys, so nothing is shown as deploying (the
    page says to start one instead of promising a rollout that will not happen).
    """
    if not endpoint:
        return Deployment(False, None, None)
    live = (endpoint.get("live") or {}).get("version")
    failed = {int(f["version"]): str(f.get("reason", "")) for f in endpoint.get("failed_versions") or []}
    target = next((v.version for v in sorted(versions, key=lambda v: v.version, reverse=True)
                   if v.status == APPROVED and v.version not in failed), None)
    serving = {v["version"] for v in endpoint.get("variants") or [] if v.get("share", 0) > 0}
    # a version already taking traffic (an A/B split, a rollout's step) is not waiting to deploy
    deploying = target if target is not None and target != live and target not in serving else None
    return Deployment(True, live, deploying, failed)


def step_summary(record: ExecutionRecord) -> str:
    """"5 succeeded, 1 failed, 1 not executed": every step counted once."""
    counts = {status: sum(s.status == status for s in record.steps)
              for status in ("Succeeded", "Failed", "Stopped", "Executing", "NotExecuted")}
    words = {"Succeeded": "succeeded", "Failed": "failed", "Stopped": "stopped", "Executing": "running",
             "NotExecuted": "not executed"}
    parts = [f"{n} {words[status]}" for status, n in counts.items() if n]
    pending = len(record.steps) - sum(counts.values())
    if pending:
        parts.append(f"{pending} waiting")
    return ", ".join(parts)


def run_row(record: ExecutionRecord) -> dict:
    failed = [s for s in record.steps if s.status == "Failed"]
    return {"pipeline": record.pipeline_name, "execution_id": record.execution_id, "status": record.status,
            "started_text": dt.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M:%S"),
            "took": f"{(record.ended or dt.datetime.now().timestamp()) - record.started:.1f} s",
            "summary": step_summary(record), "failed_steps": len(failed),
            "reason": record.failure_reason if record.status == "Failed" else ""}


def ordered_steps(record: ExecutionRecord) -> list:
    """The failed step first (its reason is what the reader came for), then the rest in pipeline order."""
    return sorted(record.steps, key=lambda s: s.status != "Failed")


ARTIFACT_NAMES = {"evaluation.json": "evaluation report", "report.json": "quarantine report",
                  "reliability.png": "reliability diagram", "model.tar.gz": "model artifact",
                  "summary.json": "batch summary", "predictions.csv": "predictions table"}


#: Files inside model.tar.gz worth a link of their own (training/diagnostics.py writes them).
MODEL_MEMBERS = {"training_curves.png": "training curves", "diagnostics.json": "training diagnostics"}


def read_artifact(store, found: dict) -> bytes | None:
    """The bytes behind an artifact link: the object, or one file inside a model.tar.gz (None if absent)."""
    import io
    import tarfile

    data = store.get_bytes(found["uri"])
    if "member" not in found:
        return data
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.extractfile(found["member"])
            return member.read() if member is not None else None
    except (tarfile.TarError, KeyError):
        return None


def step_artifacts(step, store) -> list[dict]:
    """A step's reports and plots in the store (the output prefixes its properties name), for links."""
    prefixes = [o["S3Output"]["S3Uri"] for o in step.properties.get("ProcessingOutputConfig", {}).get("Outputs", [])]
    model = step.properties.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    found = []
    for prefix in prefixes:
        for uri, size in _listing(store, prefix):
            name = uri.rsplit("/", 1)[-1]
            if name in ARTIFACT_NAMES:
                found.append({"uri": uri, "name": name, "what": ARTIFACT_NAMES[name], "size": size})
    if model:  # the training curves and diagnostics travel inside the model artifact
        found.append({"uri": model, "name": "model.tar.gz", "what": "model artifact", "size": None})
        for member, what in MODEL_MEMBERS.items():
            found.append({"uri": model, "name": member, "what": what, "size": None, "member": member})
    return found


def _listing(store, prefix: str) -> list[tuple[str, int]]:
    try:
        return [(uri, size) for uri, size in store.list(prefix.rstrip("/") + "/") if "/" in uri]
    except Exception:  # noqa: BLE001 - a listing that fails leaves the page without links, not broken
        return []


def _tail(path: Path, lines: int) -> list[str]:
    with open(path, "rb") as handle:
        handle.seek(max(0, handle.seek(0, 2) - 16384))
        return handle.read().decode("utf-8", "replace").splitlines()[-lines:]


def log_tail(step, lines: int = 40) -> list[str]:
    """The last lines of a step's job log (succeeded steps too), or what the record kept.

    A job on several instances has one log per instance (``job.log``, ``job-algo-2.log``, ...):
    each gets its own tail under a ``--- algo-N ---`` line.
    """
    if not step.log_path or not Path(step.log_path).exists():
        return list(step.log_tail[-lines:])
    first = Path(step.log_path)
    others = sorted(first.parent.glob("job-algo-*.log"), key=lambda p: int(p.stem.rsplit("-", 1)[-1]))
    if not others:
        return _tail(first, lines)
    tails = ["--- algo-1 ---", *_tail(first, lines)]
    for other in others:
        tails += [f"--- {other.stem[len('job-'):]} ---", *_tail(other, lines)]
    return tails


def comparison_target(versions: list[ModelVersion], state: Deployment, number: int) -> tuple[ModelVersion | None, str]:
    """What an approver compares version ``number`` with, and why that one.

    The version the endpoint serves, when one is running and it is another version;
    otherwise the newest approved version other than this one.
    """
    by_number = {v.version: v for v in versions}
    if state.live is not None and state.live != number and state.live in by_number:
        return by_number[state.live], "the version the endpoint serves"
    approved = [v for v in versions if v.status == APPROVED and v.version != number]
    if not approved:
        return None, ""
    why = "the newest other approved version" if state.live == number else \
        "the newest approved version (no endpoint serves one)"
    return approved[-1], why


def console_tail(record: ExecutionRecord, lines: int = 30) -> list[str]:
    """A launched run's console output (``console.log``), last lines."""
    path = Path(record.folder) / "console.log"
    return _tail(path, lines) if path.exists() else []


def classification_result(text: str) -> dict:
    """The ``result`` query value the classify form redirects with, checked; ValueError says what is wrong.

    It comes back through the URL, so anyone can edit it: every field the page shows is checked.
    """
    import json
    import math

    try:
        result = json.loads(text)
    except ValueError:
        raise ValueError("result is not JSON: it is what the classify form sends back; upload an image "
                         "again") from None
    if not isinstance(result, dict) or result.get("status") not in ("passed", "review"):
        raise ValueError("result is not a classification result (status passed or review)")
    confidence = result.get("confidence")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
                                   or not math.isfinite(confidence) or not 0 <= confidence <= 1):
        raise ValueError(f"result confidence must be a number between 0 and 1, got {confidence!r}")
    for key in ("image", "label", "error", "cause"):
        if result.get(key) is not None and not isinstance(result[key], str):
            raise ValueError(f"result {key} must be text")
    return result


def threshold_value(text: str | None, default: float) -> float:
    """A confidence bar from a form: a number in [0, 1]; ValueError says what is wrong."""
    from common.shares import share_value

    if text is None or not text.strip():
        return default
    return share_value(text, "threshold")
