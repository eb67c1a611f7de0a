"""Evaluating a pipeline definition's expressions as SageMaker does.

Handles ``{"Get": "Parameters.X"}``, ``{"Get": "Execution.PipelineExecutionId"}``,
``{"Get": "Steps.S.<property path>"}``, ``{"Std:Join": ...}`` and
``{"Std:JsonGet": ...}`` (PropertyFile or S3Uri form), and the condition types
the SDK emits (comparisons, ``In``, ``Not``, ``Or``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scones.errors import InvalidInput, Unsupported

_TOKEN = re.compile(r"""\.?([A-Za-z0-9_\-:]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")
_LIST_KEYS = ("OutputName", "InputName", "ChannelName", "MetricName", "Name", "PropertyFileName")


def path_tokens(path: str) -> list[str | int]:
    """``a.b['c'][0]`` -> ``['a', 'b', 'c', 0]``; a leading ``$.`` (JsonPath root) is allowed."""
    path = path[2:] if path.startswith("$.") else path
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match or match.end() == position:
            raise InvalidInput(f"cannot parse property path {path!r} at {path[position:]!r}")
        name, index, quoted, dquoted = match.groups()
        tokens.append(int(index) if index is not None else (name if name is not None else quoted or dquoted))
        position = match.end()
    return tokens


def walk(document: Any, tokens: list[str | int], where: str) -> Any:
    """Follow tokens through dicts and lists; a string index into a list matches an item's name key."""
    value = document
    for token in tokens:
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and isinstance(token, int) and -len(value) <= token < len(value):
            value = value[token]
        elif isinstance(value, list) and isinstance(token, str):
            matches = [item for item in value if isinstance(item, dict)
                       and any(item.get(key) == token for key in _LIST_KEYS)]
            if not matches:
                raise InvalidInput(f"{where}: no item named {token!r}")
            value = matches[0]
        else:
            raise InvalidInput(f"{where}: no {token!r} in {type(value).__name__}")
    return value


@dataclass(frozen=True)
class PropertyFileRef:
    step: str
    name: str


def join_text(value: Any) -> str:
    """How SageMaker renders a value inside ``Std:Join``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


class Resolver:
    """Resolves expressions against parameters, execution variables and finished steps."""

    def __init__(self, parameters: dict[str, Any], execution: dict[str, Any],
                 step_properties: Callable[[str], dict], read_property_file: Callable[[PropertyFileRef], Any],
                 read_json_uri: Callable[[str], Any]):
        self.parameters = parameters
        self.execution = execution
        self.step_properties = step_properties
        self.read_property_file = read_property_file
        self.read_json_uri = read_json_uri

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, body), = value.items()
            if key == "Get":
                return self.get(body)
            if key == "Std:Join":
                return body["On"].join(join_text(self.resolve(v)) for v in body["Values"])
            if key == "Std:JsonGet":
                return self.json_get(body)
        return {k: self.resolve(v) for k, v in value.items()}

    def get(self, path: str) -> Any:
        root, _, rest = path.partition(".")
        if root == "Parameters":
            if rest not in self.parameters:
                raise InvalidInput(f"unknown parameter {rest!r} (parameters: {sorted(self.parameters)})")
            return self.parameters[rest]
        if root == "Execution":
            if rest not in self.execution:
                raise Unsupported(f"execution variable {rest!r} is not supported locally")
            return self.execution[rest]
        if root == "Steps":
            tokens = path_tokens(rest)
            step, tokens = str(tokens[0]), tokens[1:]
            if tokens[:1] == ["PropertyFiles"] and len(tokens) == 2:
                return PropertyFileRef(step, str(tokens[1]))
            return walk(self.step_properties(step), tokens, f"Steps.{step}")
        raise Unsupported(f"cannot resolve {{'Get': {path!r}}} locally")

    def json_get(self, body: dict) -> Any:
        if "PropertyFile" in body:
            ref = self.resolve(body["PropertyFile"])
            if isinstance(ref, str):  # older definitions name the file; the step is then implicit
                raise Unsupported("JsonGet with a bare property file name is not supported; use the SDK's Get form")
            document = self.read_property_file(ref)
        elif "S3Uri" in body:
            document = self.read_json_uri(self.resolve(body["S3Uri"]))
        else:
            raise InvalidInput(f"Std:JsonGet needs PropertyFile or S3Uri: {json.dumps(body)[:200]}")
        return walk(document, path_tokens(body["Path"]), f"JsonGet {body['Path']}")


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}
_SYMBOLS = {"Equals": "==", "GreaterThan": ">", "GreaterThanOrEqualTo": ">=", "LessThan": "<",
            "LessThanOrEqualTo": "<="}


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """Numbers compare as numbers even when one side arrived as a string (as in SageMaker)."""
    if isinstance(a, str) != isinstance(b, str):
        try:
            return float(a), float(b)
        except (TypeError, ValueError):
            pass
    return a, b


def evaluate_condition(condition: dict, resolver: Resolver) -> tuple[bool, str]:
    """Evaluate one condition; returns the outcome and a readable account of it."""
    kind = condition.get("Type")
    if kind in _COMPARISONS:
        left, right = _comparable(resolver.resolve(condition["LeftValue"]), resolver.resolve(condition["RightValue"]))
        outcome = _COMPARISONS[kind](left, right)
        return outcome, f"{join_text(left)} {_SYMBOLS[kind]} {join_text(right)}"
    if kind == "In":
        value = resolver.resolve(condition["QueryValue"])
        values = [resolver.resolve(v) for v in condition["Values"]]
        return value in values, f"{join_text(value)} in {values}"
    if kind == "Not":
        outcome, text = evaluate_condition(condition["Condition"], resolver)
        return not outcome, f"not ({text})"
    if kind == "Or":
        results = [evaluate_condition(c, resolver) for c in condition["Conditions"]]
        return any(r for r, _ in results), " or ".join(f"({t})" for _, t in results)
    raise Unsupported(f"condition type {kind!r} is not supported by the local engine")
