"""Selective execution: run some steps of a pipeline, the others' outputs taken from an earlier execution.

SageMaker's rules (``SelectiveExecutionConfig``), checked before anything runs and refused in its
words: 1 to 50 selected steps, each in the definition; every step on a path between two selected
steps selected too; the source execution of the same pipeline and ``Succeeded`` or ``Failed``; and
each step a selected step depends on but that is not selected must have succeeded there, since its
outputs are what the selected step reads. Steps not selected do not run: they keep the source's
properties (so ``Get`` references and a condition's outcome resolve as they did there).

SageMaker's local mode refuses selective execution outright (``ValueError``); a user fixing the
training step of a long pipeline re-runs just that step here, in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from scones.engine.records import FAILED, NOT_EXECUTED, SUCCEEDED, ExecutionRecord, StepRecord
from scones.errors import InvalidInput

MAX_SELECTED_STEPS = 50  # SelectiveExecutionConfig.SelectedSteps: 1 to 50 items


@dataclass(frozen=True)
class Selection:
    steps: tuple[str, ...]
    source: ExecutionRecord | None = None

    def config(self) -> dict:
        """SageMaker's ``SelectiveExecutionConfig`` for this selection."""
        config: dict = {"SelectedSteps": [{"StepName": name} for name in self.steps]}
        if self.source is not None:
            config["SourcePipelineExecutionArn"] = self.source.arn
        return config


def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    pending = [start]
    while pending:
        for following in edges.get(pending.pop(), ()):
            if following not in seen:
                seen.add(following)
                pending.append(following)
    return seen


def selection_errors(depends_on: dict[str, list[str]], pipeline_name: str, selection: Selection) -> list[str]:
    """Why SageMaker would refuse this selection (empty when it would run it)."""
    steps = list(selection.steps)
    if not 1 <= len(steps) <= MAX_SELECTED_STEPS:
        return [f"SelectedSteps must list 1 to {MAX_SELECTED_STEPS} steps, not {len(steps)}"]
    unknown = [name for name in steps if name not in depends_on]
    if unknown:
        return [f"selected step(s) {unknown} are not in the pipeline definition (its steps: {sorted(depends_on)})"]
    errors = []
    source = selection.source
    if source is not None:
        if source.pipeline_name != pipeline_name:
            errors.append(f"source execution {source.execution_id} belongs to pipeline {source.pipeline_name}, "
                          f"not {pipeline_name}")
        if source.status not in (SUCCEEDED, FAILED):
            hint = f" (to finish it, retry it: scones pipeline retry {source.execution_id})" \
                if source.status == "Stopped" else ""
            errors.append(f"source execution {source.execution_id} is {source.status}; it must be Succeeded or "
                          f"Failed{hint}")
    downstream = {name: set() for name in depends_on}
    for name, parents in depends_on.items():
        for parent in parents:
            downstream[parent].add(name)
    upstream = {name: set(parents) for name, parents in depends_on.items()}
    chosen = set(steps)
    below = set().union(*(_closure(name, downstream) for name in steps))
    above = set().union(*(_closure(name, upstream) for name in steps))
    between = sorted((below & above) - chosen)
    if between:
        errors.append(f"step(s) {between} lie on a path between selected steps and must be selected too")
    for name in steps:
        for parent in depends_on[name]:
            if parent in chosen:
                continue
            if source is None:
                errors.append(f"step {name} depends on {parent}, which is not selected: name the execution whose "
                              "outputs it should use (--from-execution)")
            elif _status_in(source, parent) != SUCCEEDED:
                errors.append(f"step {name} depends on {parent}, which is not selected and did not succeed in "
                              f"execution {source.execution_id} ({_status_in(source, parent)}): select it too")
    return errors


def _status_in(record: ExecutionRecord, name: str) -> str:
    try:
        return record.step(name).status
    except KeyError:
        return "absent"


def mark_unselected(record: ExecutionRecord, selection: Selection) -> None:
    """Steps not selected do not run; those upstream of a selected step carry the source's properties.

    A step downstream keeps none: its source outputs (an evaluation, a registration) describe
    what the source ran, not this execution.
    """
    record.selective = selection.config()
    source = selection.source
    upstream = {s.name: set(s.depends_on) for s in record.steps}
    feeding = set().union(*(_closure(name, upstream) for name in selection.steps))
    for step in record.steps:
        if step.name in selection.steps:
            continue
        step.status = NOT_EXECUTED
        earlier: StepRecord | None = None
        if source is not None and step.name in feeding and _status_in(source, step.name) == SUCCEEDED:
            earlier = source.step(step.name)
        if earlier is None:
            step.summary = "not selected"
            continue
        step.reused_from, step.properties = source.execution_id, earlier.properties
        step.summary = f"not selected: outputs of execution {source.execution_id}"
        if earlier.summary:
            step.summary += f" ({earlier.summary})"


def checked_selection(depends_on: dict[str, list[str]], pipeline_name: str, selection: Selection) -> None:
    errors = selection_errors(depends_on, pipeline_name, selection)
    if errors:
        count = len(errors)
        raise InvalidInput(f"ValidationException (SelectiveExecutionConfig): {count} validation "
                           f"error{'s' if count > 1 else ''} detected: " + "; ".join(errors))
