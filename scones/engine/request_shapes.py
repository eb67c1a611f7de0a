"""What SageMaker refuses, refused here: each step's resolved arguments checked against botocore's model.

A pipeline step's ``Arguments`` are the request SageMaker sends for it (CreateProcessingJob,
CreateTrainingJob, CreateHyperParameterTuningJob, CreateModelPackage, CreateModel,
CreateTransformJob) less the name SageMaker gives the job. botocore carries AWS's own shapes for
them; its ``ParamValidator`` checks unknown keys, required members, types and minimums, and
:func:`_constraint_errors` adds what botocore leaves to the service: values outside an enumeration
(an instance type, an approval status), integers above their maximum. The messages are worded as
SageMaker's ``ValidationException``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

#: Step type -> (the SageMaker operation its arguments are, the member SageMaker fills with the job name).
OPERATIONS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
    "RegisterModel": ("CreateModelPackage", None),
    "Model": ("CreateModel", "ModelName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
}


@cache
def _input_shape(operation: str):
    from common.service_models import service_model

    return service_model("sagemaker").operation_model(operation).input_shape


def step_request_errors(step_type: str, arguments: dict) -> list[str]:
    """Why SageMaker would refuse this step's request (empty when it would accept it)."""
    if step_type not in OPERATIONS:
        return []
    from botocore.validate import ParamValidator

    operation, name_member = OPERATIONS[step_type]
    request = {**({name_member: "scones-local-check"} if name_member else {}), **arguments}
    shape = _input_shape(operation)
    report = ParamValidator().validate(request, shape)
    errors = [line.strip() for line in report.generate_report().splitlines() if line.strip()] \
        if report.has_errors() else []
    return errors + list(_constraint_errors(request, shape, ""))


def _constraint_errors(value: Any, shape, path: str):
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _constraint_errors(value[name], member, f"{path}.{name}" if path else name)
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _constraint_errors(item, shape.member, f"{path}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from _constraint_errors(item, shape.value, f"{path}.{key}")
    elif shape.type_name in ("integer", "long") and isinstance(value, int) and "max" in shape.metadata:
        if value > shape.metadata["max"]:
            yield (f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value less than "
                   f"or equal to {shape.metadata['max']}")
    elif shape.type_name == "string" and getattr(shape, "enum", None) and isinstance(value, str):
        if value not in shape.enum:
            shown = ", ".join(shape.enum[:12]) + (", ..." if len(shape.enum) > 12 else "")
            yield (f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value "
                   f"set: [{shown}]")


def validation_message(operation_step_type: str, errors: list[str]) -> str:
    """SageMaker's wording: "ValidationException: N validation error(s) detected: ..."."""
    operation = OPERATIONS[operation_step_type][0]
    count = len(errors)
    return (f"ValidationException ({operation}): {count} validation error{'s' if count > 1 else ''} detected: "
            + "; ".join(errors))


@cache
def _output_members(operation: str) -> frozenset[str]:
    from common.service_models import service_model

    shape = service_model("sagemaker").operation_model(operation).output_shape
    return frozenset(shape.members)


def echoed(describe_operation: str, arguments: dict) -> dict:
    """The request members SageMaker's Describe* answer repeats (a training step's ``ResourceConfig``,
    ``InputDataConfig``, ``RoleArn``...), so every property path SageMaker offers resolves here too."""
    members = _output_members(describe_operation)
    return {key: value for key, value in arguments.items() if key in members}


#: Step type -> the Describe/List answers its properties are (the SDK's ``Properties`` shape names).
PROPERTY_OPERATIONS = {
    "Processing": ("DescribeProcessingJob",),
    "Training": ("DescribeTrainingJob",),
    "Tuning": ("DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"),
    "Model": ("DescribeModel",),
    "Transform": ("DescribeTransformJob",),
    "RegisterModel": ("DescribeModelPackage",),
}


def property_path_error(step: dict, tokens: list) -> str | None:
    """Why ``Steps.<step>.<tokens>`` names nothing SageMaker's step has (None: the path exists).

    Job steps are checked against their Describe* answer's shape; a Lambda step has its declared
    ``OutputParameters``, a Condition step its ``Outcome``; any other step no properties at all.
    """
    kind = step.get("Type", "")
    path = ".".join(str(t) for t in tokens)
    if kind == "Lambda":
        declared = [o.get("OutputName") for o in step.get("OutputParameters", [])]
        if len(tokens) == 2 and tokens[0] == "OutputParameters" and tokens[1] in declared:
            return None
        return f"a Lambda step has OutputParameters[name] for its declared outputs {declared}, not {path!r}"
    if kind == "Condition":
        return None if tokens == ["Outcome"] else f"a Condition step has Outcome only, not {path!r}"
    if kind not in PROPERTY_OPERATIONS:
        return f"a {kind} step has no properties"
    from common.service_models import service_model

    reasons = []
    for operation in PROPERTY_OPERATIONS[kind]:
        reason = _shape_path_error(service_model("sagemaker").operation_model(operation).output_shape, tokens)
        if reason is None:
            return None
        reasons.append(f"{operation} {reason}")
    return f"no property {path!r} on a {kind} step: " + "; ".join(reasons)


def _shape_path_error(shape, tokens: list) -> str | None:
    where = shape.name
    for token in tokens:
        if shape.type_name == "structure":
            if token not in shape.members:
                return f"has no {token!r} in {where}"
            shape, where = shape.members[token], f"{where}.{token}"
        elif shape.type_name == "list":
            shape, where = shape.member, f"{where}[{token!r}]"
        elif shape.type_name == "map":
            shape, where = shape.value, f"{where}[{token!r}]"
        else:
            return f"has a {shape.type_name} at {where}, with no {token!r} in it"
    return None
