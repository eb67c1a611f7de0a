"""Lambda steps on this machine: the named function's handler, called in-process as SageMaker invokes it.

SageMaker calls the function synchronously with the step's resolved ``Arguments`` as the event
and reads each declared ``OutputParameters`` entry from the top level of the JSON object it
returns, cast to the declared ``OutputType``. A function that raises fails the step with its
error type and message; one that returns something else, or lacks a declared output, fails it
too; a function name the engine was not given fails as Lambda's ``ResourceNotFoundException``.
The functions are handed to the engine (function name -> handler), never looked up by a
static import, so the engine stays below the functions it runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from scones.errors import StepFailed

_CASTS: dict[str, Callable[[Any], Any]] = {
    "String": str,
    "Integer": int,
    "Float": float,
    "Boolean": lambda v: v if isinstance(v, bool) else str(v).lower() == "true",
}


def function_name(arn_or_name: str) -> str:
    """``arn:aws:lambda:R:A:function:NAME[:ALIAS]`` or ``NAME`` -> ``NAME``."""
    if ":function:" in arn_or_name:
        return arn_or_name.split(":function:", 1)[1].split(":", 1)[0]
    return arn_or_name


def invoke_for_step(functions: Mapping[str, Callable[[Any, Any], Any]], arn: str, event: dict,
                    output_parameters: list[dict]) -> dict[str, Any]:
    """Call the function named by ``arn`` with ``event``; returns ``{OutputName: value}``."""
    handler = functions.get(function_name(arn))
    if handler is None:
        known = ", ".join(sorted(functions)) or "none"
        raise StepFailed(f"ResourceNotFoundException: Function not found: {arn} (functions known locally: {known})")
    try:
        result = handler(json.loads(json.dumps(event)), None)
    except Exception as exc:  # noqa: BLE001 - Lambda reports every exception as a function error
        raise StepFailed(f"Lambda function {function_name(arn)} failed: {type(exc).__name__}: {exc}") from exc
    if output_parameters and not isinstance(result, dict):
        raise StepFailed(f"Lambda function {function_name(arn)} returned {type(result).__name__}; a step with "
                         "OutputParameters needs a JSON object")
    outputs = {}
    for spec in output_parameters:
        name, kind = spec["OutputName"], spec.get("OutputType", "String")
        if name not in result:
            raise StepFailed(f"Lambda function {function_name(arn)}'s result has no output parameter {name!r} "
                             f"(it returned {sorted(result)})")
        try:
            outputs[name] = _CASTS[kind](result[name])
        except (KeyError, TypeError, ValueError) as exc:
            raise StepFailed(f"output parameter {name!r}: {result[name]!r} is not of type {kind}") from exc
    return outputs
