"""A stop request for this process's execution: what ``StopPipelineExecution`` is to SageMaker.

``scones pipeline stop`` sends the run's process SIGTERM; the handler calls :meth:`StopSignal.request`,
which stops every job process it knows of (SIGTERM, then SIGKILL after a grace, as SageMaker stops a
job) and keeps new ones from starting. The executor then ends the running step as Stopped and runs
nothing more. One signal per process, as there is one execution per ``scones pipeline run``.
"""

from __future__ import annotations

import subprocess
import threading

#: How long a job gets to end by itself after SIGTERM before it is killed.
JOB_GRACE_SECONDS = 5.0


class StopSignal:
    def __init__(self) -> None:
        self._requested = threading.Event()
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen] = set()

    def requested(self) -> bool:
        return self._requested.is_set()

    def request(self) -> None:
        """Stop the jobs now running and refuse new ones; returns at once (the jobs end in the background)."""
        self._requested.set()
        with self._lock:
            running = list(self._processes)
        for process in running:
            threading.Thread(target=_terminate, args=(process,), daemon=True).start()

    def track(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._processes.add(process)
        if self.requested():  # the request came between the check and the start
            _terminate(process)

    def forget(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._processes.discard(process)

    def reset(self) -> None:
        """For a process that runs several executions one after another (tests, a retry after a stop)."""
        self._requested.clear()


def _terminate(process: subprocess.Popen) -> None:
    try:
        process.terminate()
        process.wait(timeout=JOB_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
    except OSError:
        pass  # already gone


#: The process's one stop signal.
STOP = StopSignal()
