"""The tuning variant: a TuningStep in the definition, run locally with 4 trials on synthetic data."""

import json
import random

import pytest

from scones import cli
from scones.engine.tuning import sample

KWARGS = json.dumps({"tuning": True, "pipeline_name": "SconesTuning"})


def test_definition_has_the_tuning_step_and_its_ranges(no_network):
    from scones.engine.local_run import render_definition

    _, definition = render_definition(tuning=True, pipeline_name="SconesTuning")
    assert no_network == []
    tune = next(s for s in definition["Steps"] if s["Type"] == "Tuning")
    config = tune["Arguments"]["HyperParameterTuningJobConfig"]
    ranges = config["ParameterRanges"]
    assert ranges["ContinuousParameterRanges"] == [{"Name": "learning-rate", "MinValue": "0.0003", "MaxValue": "0.01",
                                                     "ScalingType": "Logarithmic"}]
    assert [json.loads(v) for v in ranges["CategoricalParameterRanges"][0]["Values"]] == ["32", "64", "128", "256"]
    assert ranges["IntegerParameterRanges"][0]["Name"] == "epochs"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "val_accuracy"}
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == {"Get": "Parameters.MaxTuningJobs"}
    evaluate = next(s for s in definition["Steps"] if s["Name"] == "EvaluateModel")
    assert "Steps.TuneModel.TrainingJobSummaries[0].TrainingJobName" in json.dumps(evaluate)


def test_sampling_is_reproducible_and_inside_the_space():
    ranges = {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1",
                                             "ScalingType": "Logarithmic"}],
              "IntegerParameterRanges": [{"Name": "epochs", "MinValue": "2", "MaxValue": "10"}],
              "CategoricalParameterRanges": [{"Name": "bs", "Values": ["\"32\"", "\"64\""]}]}
    first = [sample(ranges, random.Random(0)) for _ in range(1)]
    assert first == [sample(ranges, random.Random(0))]
    points = [sample(ranges, rng) for rng in [random.Random(1)] for _ in range(200)]
    learning_rates = [float(p["lr"]) for p in points]
    assert 0.001 <= min(learning_rates) and max(learning_rates) <= 0.1
    assert sum(lr < 0.01 for lr in learning_rates) > 60, "log scale: about half below 0.01"
    assert {p["bs"] for p in points} == {"\"32\"", "\"64\""}
    assert {int(p["epochs"]) for p in points} <= set(range(2, 11))


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    """Smaller than the suite's tiny archive: four trials of up to 60 epochs each is the costly part."""
    from processing.synth import write_synthetic_archive

    path = tmp_path_factory.mktemp("small") / "cifar-100-python.tar.gz"
    return write_synthetic_archive(path, ("bicycle", "motorcycle"), 24, 10, seed=1)


def test_local_tuning_run_registers_the_best_trials_model(workspace, small_archive, capsys):
    code = cli.main(["pipeline", "run", "--kwargs", KWARGS, "--input", str(small_archive),
                     "-p", "MaxTuningJobs=4", "-p", "MaxParallelTuningJobs=2", "-p", "AccuracyThreshold=0.5"])
    out = capsys.readouterr().out
    assert code == 0, out
    table = [line for line in out.splitlines() if "| TuneModel:" in line]
    assert "learning-rate" in table[1] and "val_accuracy" in table[1]
    rows = [line for line in table if line.split("| TuneModel:")[1].split()[0] in ("001", "002", "003", "004")]
    assert len(rows) == 4 and sum("<- best" in row for row in rows) == 1
    from scones.engine.records import list_executions

    record = list_executions(workspace.workspace.runs)[0]
    tune = record.step("TuneModel").properties
    best = tune["BestTrainingJob"]["TrainingJobName"]
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in tune["TrainingJobSummaries"]]
    assert values == sorted(values, reverse=True) and tune["TrainingJobSummaries"][0]["TrainingJobName"] == best
    version = workspace.registry().get_version(workspace.model_group, 1)
    assert f"/{best}/output/model.tar.gz" in version.model_data_url
    evaluated = record.step("EvaluateModel").properties["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    assert evaluated == version.model_data_url


@pytest.mark.parametrize("bad", ["MaxTuningJobs=zero"])
def test_bad_tuning_parameters_are_refused(workspace, tiny_archive, bad, capsys):
    assert cli.main(["pipeline", "run", "--kwargs", KWARGS, "--input", str(tiny_archive), "-p", bad]) == 1
    assert "must be Integer" in capsys.readouterr().err


def _trials(values):
    return [{"TrainingJobName": f"t-{i}", "TrainingJobStatus": "Completed",
             "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "m", "Value": v}}
            for i, v in enumerate(values)]


def test_tuning_ranks_the_best_trial_first_for_maximize_and_minimize():
    from scones.engine.tuning import rank_trials

    values = [0.71, 0.93, 0.42, 0.88]
    assert [t["TrainingJobName"] for t in rank_trials(_trials(values), maximize=True)][0] == "t-1"
    assert [t["TrainingJobName"] for t in rank_trials(_trials(values), maximize=False)][0] == "t-2"


def test_tuning_job_carries_the_best_trial_forward(tmp_path, monkeypatch):
    """Distinct scores per trial (a stand-in training job reports them): BestTrainingJob is the best one."""
    from scones.engine import tuning
    from scones.engine.jobs import JobFailed

    scores = iter([0.5, 0.9, 0.7])

    def fake_training_job(store, name, request, job_dir, echo=None):
        return {"FinalMetricDataList": [{"MetricName": "val_accuracy", "Value": next(scores)}]}

    def one_fails(store, name, request, job_dir, echo=None):
        if name.endswith("002"):
            raise JobFailed(f"{name}: diverged", [])
        return fake_training_job(store, name, request, job_dir, echo)

    monkeypatch.setattr(tuning, "run_training_job", fake_training_job)
    arguments = {"HyperParameterTuningJobConfig": {
                     "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1},
                     "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "val_accuracy"},
                     "ParameterRanges": {"IntegerParameterRanges": [{"Name": "epochs", "MinValue": "1",
                                                                     "MaxValue": "3"}]}},
                 "TrainingJobDefinition": {"AlgorithmSpecification": {}, "OutputDataConfig": {}}}
    result = tuning.run_tuning_job(None, "tune", arguments, tmp_path, log=lambda _: None)
    assert result["BestTrainingJob"]["TrainingJobName"] == "tune-002"
    arguments["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["Type"] = "Minimize"
    scores = iter([0.5, 0.9, 0.7])
    result = tuning.run_tuning_job(None, "tune", arguments, tmp_path, log=lambda _: None)
    assert result["BestTrainingJob"]["TrainingJobName"] == "tune-001"
    monkeypatch.setattr(tuning, "run_training_job", one_fails)
    scores = iter([0.5, 0.7])
    result = tuning.run_tuning_job(None, "tune", arguments, tmp_path, log=lambda _: None)
    assert [s["TrainingJobName"] for s in result["TrainingJobSummaries"]] == ["tune-001", "tune-003", "tune-002"]
    assert result["TrainingJobSummaries"][-1]["TrainingJobStatus"] == "Failed"
    assert result["TrainingJobStatusCounters"] == {"Completed": 2, "InProgress": 0, "RetryableError": 0,
                                                  "NonRetryableError": 1, "Stopped": 0}  # SageMaker's members


def test_tuning_job_fails_when_every_trial_fails(tmp_path, monkeypatch):
    from scones.engine import tuning
    from scones.engine.jobs import JobFailed

    def failing_training_job(store, name, request, job_dir, echo=None):
        raise JobFailed(f"{name}: out of memory", [])

    monkeypatch.setattr(tuning, "run_training_job", failing_training_job)
    arguments = {"HyperParameterTuningJobConfig": {
                     "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
                     "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "val_accuracy"},
                     "ParameterRanges": {}},
                 "TrainingJobDefinition": {"AlgorithmSpecification": {}, "OutputDataConfig": {}}}
    with pytest.raises(tuning.StepFailed, match="all 2 tuning trials failed: tune-001: out of memory"):
        tuning.run_tuning_job(None, "tune", arguments, tmp_path, log=lambda _: None)
