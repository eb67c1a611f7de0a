"""Start a local pipeline run in the background, one at a time per pipeline.

The dashboard's "Start a run" and ``scones monitor report --retrain`` must not
block for the minutes a run takes, and two runs of one pipeline at once would
race for the same registry version and cached outputs. The launcher renders the
definition (cached), refuses while an execution of that pipeline is still
Executing, and starts ``python -m scones pipeline run --execution-id ID`` as a
detached process whose console goes to ``console.log`` in the run folder. The
record exists (status Executing, the child's pid) before this returns, so the
next launch sees it at once and a dead child reads Failed (see ``records``).

Configuration flows to the child explicitly: the backends of ``Settings``,
never what the caller's environment happens to hold.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import secrets
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines._utils import DEFAULT_MODULE
from scones.engine.executor import build_graph, resolve_parameters
from scones.engine.records import EXECUTING, ExecutionRecord, StepRecord, list_executions
from scones.errors import Conflict
from scones.settings import Settings

CONSOLE_LOG = "console.log"


@dataclass(frozen=True)
class Launch:
    pipeline: str
    execution_id: str
    folder: Path

    @property
    def console(self) -> Path:
        return self.folder / CONSOLE_LOG


def pipeline_definition(settings: Settings, module: str = DEFAULT_MODULE,
                        kwargs: dict | None = None) -> tuple[str, dict]:
    """(name, definition) as a local run renders it, from the same cache."""
    from scones.engine.local_run import definition_cache, render_cached

    name, definition, _ = render_cached(module, settings.pipeline_kwargs(kwargs), definition_cache())
    return name, definition


def running(runs_dir: Path, pipeline: str) -> ExecutionRecord | None:
    """The execution of ``pipeline`` still under way here, if any (a dead one reads Failed)."""
    return next((r for r in list_executions(runs_dir, pipeline) if r.status == EXECUTING), None)


@contextmanager
def _pipeline_lock(runs_dir: Path, pipeline: str):
    path = Path(runs_dir) / pipeline / ".launch.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def retrain_parameters(settings: Settings, version) -> dict[str, str]:
    """The parameters of the local run that registered ``version`` (its data, its settings), if known.

    Retraining (on drift, or with reviewed images) means that run again on today's data: the
    same input and recipe; names the current definition no longer has are left out.
    """
    if version is None or not version.pipeline_execution:
        return {}
    execution = version.pipeline_execution.rsplit("/", 1)[-1]
    record = next((r for r in list_executions(settings.workspace.runs) if r.execution_id == execution), None)
    if record is None:
        return {}
    known = {p["Name"] for p in pipeline_definition(settings)[1].get("Parameters", [])}
    return {k: str(v) for k, v in record.parameters.items() if k in known}


def launch(settings: Settings, parameters: dict[str, Any] | None = None, input_path: Path | None = None,
           module: str = DEFAULT_MODULE, kwargs: dict | None = None) -> Launch:
    """Start a run and return at once; raises :class:`Conflict` while one of the same pipeline runs."""
    name, definition = pipeline_definition(settings, module, kwargs)
    runs = settings.workspace.runs
    parameters = {k: str(v) for k, v in (parameters or {}).items()}
    resolved = resolve_parameters(definition, parameters)  # unknown names fail here, before anything starts
    with _pipeline_lock(runs, name):
        current = running(runs, name)
        if current is not None:
            since = dt.datetime.fromtimestamp(current.started).strftime("%H:%M:%S")
            raise Conflict(f"pipeline {name} is already running execution {current.execution_id} (started "
                           f"{since}); one run at a time per pipeline. Follow it: scones pipeline status "
                           f"{current.execution_id}")
        execution_id = secrets.token_hex(6)
        folder = runs / name / execution_id
        folder.mkdir(parents=True)
        argv = [sys.executable, "-m", "scones", "pipeline", "run", "--execution-id", execution_id,
                "--module", module]
        for key, value in parameters.items():
            argv += ["-p", f"{key}={value}"]
        if input_path is not None:
            argv += ["--input", str(Path(input_path).resolve())]
        if kwargs:
            argv += ["--kwargs", json.dumps(kwargs)]
        with open(folder / CONSOLE_LOG, "wb") as console:
            child = subprocess.Popen(argv, stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=settings.child_environment(), start_new_session=True)
        arn = f"arn:aws:sagemaker:local:000000000000:pipeline/{name.lower()}/execution/{execution_id}"
        ExecutionRecord(name, execution_id, arn, resolved, started=time.time(), folder=str(folder), pid=child.pid,
                        steps=[StepRecord(n.name, n.type, depends_on=n.depends_on)
                               for n in build_graph(definition)]).save()
    # reap the child when it ends, so a finished run never lingers as a zombie of a long-lived dashboard
    threading.Thread(target=child.wait, daemon=True, name=f"reap-{execution_id}").start()
    return Launch(name, execution_id, folder)
