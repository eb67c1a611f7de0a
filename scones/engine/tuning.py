"""Hyperparameter tuning jobs, locally: the same search space, trials as training subprocesses.

Random search with a fixed seed (the config's ``RandomSeed`` when given, else 0),
so a run is reproducible; at most ``MaxParallelTrainingJobs`` trials at once.
Trial jobs are named and stored as SageMaker names and stores them --
``<S3OutputPath>/<tuning job>-NNN/output/model.tar.gz`` -- so the pipeline's
``get_top_model_s3_uri`` expression finds the best one unchanged.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scones.engine.jobs import JobFailed, run_training_job
from scones.errors import StepFailed
from scones.store import ArtifactStore


def sample(ranges: dict, rng: random.Random) -> dict[str, str]:
    """One point of the search space, as the string hyperparameters SageMaker passes."""
    point = {}
    for spec in ranges.get("ContinuousParameterRanges", []):
        low, high = float(spec["MinValue"]), float(spec["MaxValue"])
        if spec.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic"):
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = rng.uniform(low, high)
        point[spec["Name"]] = f"{value:.6g}"
    for spec in ranges.get("IntegerParameterRanges", []):
        low, high = int(spec["MinValue"]), int(spec["MaxValue"])
        if spec.get("ScalingType") == "Logarithmic":
            value = round(math.exp(rng.uniform(math.log(low), math.log(high))))
        else:
            value = rng.randint(low, high)
        point[spec["Name"]] = str(value)
    for spec in ranges.get("CategoricalParameterRanges", []):
        point[spec["Name"]] = rng.choice(spec["Values"])
    return point


def _shown(value: str) -> str:
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return str(decoded)


def rank_trials(completed: list[dict], maximize: bool) -> list[dict]:
    """Completed trial summaries, best objective first (highest when maximizing, lowest when minimizing)."""
    return sorted(completed, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                  reverse=maximize)


def run_tuning_job(store: ArtifactStore, tuning_name: str, arguments: dict, job_dir: Path,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    config = arguments["HyperParameterTuningJobConfig"]
    definition = arguments["TrainingJobDefinition"]
    limits = config["ResourceLimits"]
    max_jobs, parallel = int(limits["MaxNumberOfTrainingJobs"]), max(1, int(limits["MaxParallelTrainingJobs"]))
    objective = config["HyperParameterTuningJobObjective"]
    metric, maximize = objective["MetricName"], objective.get("Type", "Maximize") == "Maximize"
    rng = random.Random(int(config.get("RandomSeed", 0)))
    points = [sample(config.get("ParameterRanges", {}), rng) for _ in range(max_jobs)]
    static = definition.get("StaticHyperParameters", {})

    def trial(index: int) -> dict:
        name = f"{tuning_name}-{index + 1:03d}"
        request = {"AlgorithmSpecification": definition["AlgorithmSpecification"],
                   "HyperParameters": {**static, **points[index]},
                   "InputDataConfig": definition.get("InputDataConfig", []),
                   "OutputDataConfig": definition["OutputDataConfig"],
                   "ResourceConfig": definition.get("HyperParameterTuningResourceConfig", {})}
        summary = {"TrainingJobName": name, "TunedHyperParameters": points[index]}
        try:
            properties = run_training_job(store, name, request, job_dir / name)
        except JobFailed as exc:
            return {**summary, "TrainingJobStatus": "Failed", "FailureReason": exc.message}
        values = {m["MetricName"]: m["Value"] for m in properties.get("FinalMetricDataList", [])}
        if metric not in values:
            return {**summary, "TrainingJobStatus": "Failed", "FailureReason": f"no {metric} in the log"}
        return {**summary, "TrainingJobStatus": "Completed",
                "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": metric, "Value": values[metric]}}

    log(f"{max_jobs} trials, {parallel} at a time, random search (seed {config.get('RandomSeed', 0)}), "
        f"objective {'max' if maximize else 'min'} {metric}")
    with ThreadPoolExecutor(parallel) as pool:
        summaries = list(pool.map(trial, range(max_jobs)))
    done = [s for s in summaries if s["TrainingJobStatus"] == "Completed"]
    if not done:
        raise StepFailed(f"all {max_jobs} tuning trials failed: {summaries[0].get('FailureReason', '')}")
    ranked = rank_trials(done, maximize)
    names = sorted(points[0]) if points else []
    log("trial  " + "  ".join(f"{n:>14}" for n in names) + f"  {metric:>12}")
    for summary in summaries:
        value = summary.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
        shown = f"{value:.4f}" if value is not None else summary["TrainingJobStatus"]
        best = "  <- best" if summary is ranked[0] else ""
        log(f"{summary['TrainingJobName'][-3:]:>5}  "
            + "  ".join(f"{_shown(summary['TunedHyperParameters'][n]):>14}" for n in names) + f"  {shown:>12}{best}")
    return {
        "HyperParameterTuningJobName": tuning_name,
        "HyperParameterTuningJobStatus": "Completed",
        "BestTrainingJob": ranked[0],
        "TrainingJobSummaries": ranked + [s for s in summaries if s["TrainingJobStatus"] != "Completed"],
        # DescribeHyperParameterTuningJob's counters: a trial whose code failed is a NonRetryableError
        "TrainingJobStatusCounters": {"Completed": len(done), "InProgress": 0, "RetryableError": 0,
                                      "NonRetryableError": len(summaries) - len(done), "Stopped": 0},
    }
