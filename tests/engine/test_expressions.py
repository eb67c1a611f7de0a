import pytest

from scones.engine.expressions import PropertyFileRef, Resolver, evaluate_condition, path_tokens
from scones.errors import InvalidInput, Unsupported


@pytest.fixture
def resolver():
    steps = {"Train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"},
                       "FinalMetricDataList": [{"MetricName": "val_accuracy", "Value": 0.9}]},
             "Prep": {"ProcessingOutputConfig": {"Outputs": [
                 {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}}]}}}
    documents = {PropertyFileRef("Eval", "Report"): {"metrics": {"accuracy": {"value": 0.75}}, "list": [1, 2]}}
    return Resolver({"Threshold": 0.8, "Name": "x"}, {"PipelineExecutionId": "abc"},
                    lambda name: steps[name], lambda ref: documents[ref], lambda uri: {"uri": uri})


def test_path_tokens():
    assert path_tokens("Outputs['train'].S3Output.S3Uri") == ["Outputs", "train", "S3Output", "S3Uri"]
    assert path_tokens("$.a[0].b") == ["a", 0, "b"]
    with pytest.raises(InvalidInput):
        path_tokens("a..b")


def test_get_parameters_execution_and_step_properties(resolver):
    assert resolver.resolve({"Get": "Parameters.Threshold"}) == 0.8
    assert resolver.resolve({"Get": "Execution.PipelineExecutionId"}) == "abc"
    assert resolver.resolve({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}) \
        == "s3://b/train"
    assert resolver.resolve({"Get": "Steps.Train.FinalMetricDataList['val_accuracy'].Value"}) == 0.9


def test_join_renders_values_as_sagemaker_does(resolver):
    join = {"Std:Join": {"On": "/", "Values": ["s3:/", "b", {"Get": "Execution.PipelineExecutionId"}]}}
    assert resolver.resolve(join) == "s3://b/abc"
    assert resolver.resolve({"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Threshold"}]}}) == "0.8"


def test_json_get_follows_the_path(resolver):
    body = {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.Report"}, "Path": "metrics.accuracy.value"}
    assert resolver.resolve({"Std:JsonGet": body}) == 0.75
    assert resolver.resolve({"Std:JsonGet": {**body, "Path": "list[1]"}}) == 2
    assert resolver.resolve({"Std:JsonGet": {"S3Uri": "s3://b/x.json", "Path": "uri"}}) == "s3://b/x.json"
    with pytest.raises(InvalidInput, match="no 'missing'"):
        resolver.resolve({"Std:JsonGet": {**body, "Path": "metrics.missing"}})


def test_unknown_references_are_named(resolver):
    with pytest.raises(InvalidInput, match="unknown parameter 'Nope'"):
        resolver.resolve({"Get": "Parameters.Nope"})
    with pytest.raises(Unsupported):
        resolver.resolve({"Get": "Execution.Nope"})


@pytest.mark.parametrize("condition, outcome", [
    ({"Type": "GreaterThanOrEqualTo", "LeftValue": 0.8, "RightValue": {"Get": "Parameters.Threshold"}}, True),
    ({"Type": "LessThan", "LeftValue": "0.5", "RightValue": 0.8}, True),
    ({"Type": "Equals", "LeftValue": {"Get": "Parameters.Name"}, "RightValue": "y"}, False),
    ({"Type": "In", "QueryValue": {"Get": "Parameters.Name"}, "Values": ["x", "z"]}, True),
    ({"Type": "Not", "Condition": {"Type": "GreaterThan", "LeftValue": 1, "RightValue": 2}}, True),
    ({"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2},
                                   {"Type": "Equals", "LeftValue": 3, "RightValue": 3}]}, True),
])
def test_conditions(resolver, condition, outcome):
    assert evaluate_condition(condition, resolver)[0] is outcome


def test_unknown_condition_type_is_refused(resolver):
    with pytest.raises(Unsupported, match="Between"):
        evaluate_condition({"Type": "Between"}, resolver)
