"""The local endpoint: a real HTTP server on SageMaker's two contracts.

- The container contract: ``GET /ping``, ``POST /invocations`` (what SageMaker
  sends a model container).
- The Runtime API: ``POST /endpoints/{name}/invocations``, so boto3's
  ``sagemaker-runtime`` client with ``endpoint_url`` set calls it unchanged, and errors come
  back as SageMaker's: ``ModelError`` (424) around what the model refused or failed,
  ``ValidationError`` (400) for what SageMaker refuses itself (:mod:`scones.serving.runtime_api`).

Requests run the model artifact's own handler (``training.inference``), and
every answered request is captured in SageMaker's data-capture format.

Hostile and bursty clients: connections live on an event loop (:mod:`scones.serving.transport`,
uvicorn), so a slow or silent client holds a timer, not a thread: a request's head has
``read_timeout`` seconds to arrive (then the connection is closed), a body may pause that long
(then 408) and take 60 s in all. Content-Length is required and checked (malformed or negative ->
400, missing or chunked -> 411, over 6 MB -> 413 sent before the body is read, the rest drained
for a bounded time so the client reads the status instead of a reset). Complete requests run on a
pool of ``workers`` threads with at most ``pending`` waiting; beyond that, an immediate 503 with
``Retry-After``. ``/ping`` is answered on the loop, so it stays up while every worker is busy.

Zero-downtime redeploys: a new version is downloaded, loaded and checked on a
probe image *beside* the live one, then swapped in with one reference
assignment. A request reads the reference once, so in-flight requests finish
on the model they started with. A version that fails its check never goes
live. The swap is driven by :class:`scones.deploy.Deployer` -- the same rules
as the AWS deployer Lambda -- fed by the local registry's event table.

Deployment modes (:mod:`scones.deploy.modes`): what serves is a :class:`~scones.serving.routing.Routing`
-- weighted production fleets (an A/B split, or both fleets of a canary or linear rollout, driven by
:mod:`scones.serving.rollout` under the template's rollback alarms), ``TargetVariant`` honoured, and
a shadow answering copies off the request path (:mod:`scones.serving.shadow`). Capture is kept per
variant, as SageMaker's. In serverless mode the endpoint captures nothing (the classifier does) and
requests beyond ``MaxConcurrency`` are throttled with SageMaker's ThrottlingException.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import random
import re
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from common.content_types import media_type
from common.imaging import png_header
from scones.deploy import Deployer, EndpointBackend
from scones.errors import SconesError
from scones.events import EventSource
from scones.registry import ModelVersion
from scones.serving import runtime_api as runtime_api_errors
from scones.serving import transport
from scones.serving.capture import Capture
from scones.serving.routing import Deployment, Fleet, Routing
from scones.serving.shadow import ShadowRunner
from scones.store import ArtifactStore
from training import inference

_RUNTIME_PATH = re.compile(r"^/endpoints/([A-Za-z0-9\-]{1,63})/invocations$")
VARIANT = "AllTraffic"
#: The header botocore sends for InvokeEndpoint's InferenceId; the capture record keeps it as eventMetadata.inferenceId.
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
#: InvokeEndpoint's TargetVariant: the production variant to answer, whatever its weight.
TARGET_VARIANT_HEADER = "x-amzn-sagemaker-target-variant"


class ModelLoader:
    """Model package -> loaded, checked model (download, unpack, probe)."""

    def __init__(self, store: ArtifactStore, cache_dir: Path, threads: int | None = None):
        self.store = store
        self.cache_dir = Path(cache_dir)
        self.threads = threads

    def load(self, version: ModelVersion, threads: int | None = None) -> inference.LoadedModel:
        """Raises SconesError naming the version when it cannot be fetched, unpacked, loaded or checked.

        ``threads``: the model's own (a shadow runs single-threaded, so the live model keeps the cores).
        """
        try:
            return self._load(version, threads or self.threads)
        except SconesError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a candidate model must leave the live one serving
            raise SconesError(f"version {version.version} cannot be served: {type(exc).__name__}: {exc}") from exc

    def _load(self, version: ModelVersion, threads: int | None) -> inference.LoadedModel:
        from scones.artifacts import unpack_model

        folder = self.cache_dir / version.group / str(version.version)
        if not (folder / "classes.json").exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.cache_dir) as scratch:
                tarball = Path(scratch) / "model.tar.gz"
                tarball.write_bytes(self.store.get_bytes(version.model_data_url))
                unpack_model(tarball, Path(scratch) / "model")
                folder.parent.mkdir(parents=True, exist_ok=True)
                os.replace(Path(scratch) / "model", folder)
        model = inference.LoadedModel(folder, threads=threads)
        self.check(model)
        return model

    @staticmethod
    def check(model: inference.LoadedModel) -> None:
        """A probe image through the full handler: right shape, probabilities that sum to 1."""
        import numpy as np

        from common.imaging import encode_png

        probe = encode_png(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
        result = json.loads(inference.output_fn(inference.predict_fn(inference.input_fn(probe, "image/png"),
                                                                     model))[0])
        if len(result) != len(model.classes) or abs(sum(result) - 1.0) > 1e-3:
            raise SconesError(f"model check failed: probe gave {result} for classes {model.classes}")


#: Invocations the model runs at once, invocations that may wait for one, and the seconds a request's
#: head or a pause in its body may take.
DEFAULT_WORKERS, DEFAULT_PENDING, DEFAULT_READ_TIMEOUT = 8, 1024, 10.0
#: Seconds a request's whole body may take to arrive (SageMaker gives an invocation 60 s in all).
BODY_SECONDS = 60.0
#: An image body at most this large and this many pixels (by its header), arriving while no other request is in
#: flight, is answered on the event loop: it blocks the loop for well under a millisecond.
INLINE_BYTES, INLINE_PIXELS = 256 * 1024, 512 * 512
#: ... and only for a version whose invocations have lately taken less than this (a big model never blocks the loop).
INLINE_SECONDS = 0.002


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False  # the request's framing cannot be trusted: answer, then close the connection


class EndpointServer:
    """Serves one endpoint name; ``deployment`` is swapped atomically on redeploy.

    Connections are held by the event loop (:mod:`scones.serving.transport`); a request reaches a
    worker thread only once its body is complete. ``/ping`` and the status page are answered on the
    loop itself, so they stay up while every worker is busy. Beyond ``workers`` running and
    ``pending`` waiting invocations, a request gets an immediate 503 with ``Retry-After``.
    """

    def __init__(self, address: tuple[str, int], endpoint_name: str, capture: Capture | None = None,
                 state_file: Path | None = None, workers: int = DEFAULT_WORKERS, pending: int = DEFAULT_PENDING,
                 read_timeout: float = DEFAULT_READ_TIMEOUT, max_concurrency: int | None = None):
        self.limits = transport.Limits(read_timeout=read_timeout)
        self._transport = transport.LoopServer(address, self, self.limits)
        self.server_address = self._transport.server_address
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="endpoint-worker")
        self.capacity = workers + pending  # invocations running or waiting before a 503
        self._in_flight = 0  # invocations handed to the pool and not finished (the loop's thread only)
        self._last_done = time.monotonic()  # when the last one finished (a shadow works after a quiet moment)
        self.refused_busy = 0
        self.endpoint_name = endpoint_name
        self.region = runtime_api_errors.REGION  # named in ModelError's log stream ARN
        self.capture = capture
        self._writers: dict[str, Capture] = {capture.folder.name: capture} if capture else {}
        self.state_file = state_file
        self.routing: Routing | None = None
        self.max_concurrency = max_concurrency  # serverless: concurrent invocations beyond it are throttled
        self.refused_throttled = 0
        self.shadow: ShadowRunner | None = None
        self.rollout = None  # the RolloutDriver of the last rollout (its status stays on the page)
        self.mode = ""  # the deployment mode, described (status page)
        self.layout_error = ""  # why the last requested split or shadow was not applied
        self.layout_applied = ""  # the id of the last layout request the endpoint answered (applied or not)
        self._watched: tuple[Deployment, object] | None = None  # the fleet a rollout's alarms watch
        self._variant_counts: dict[tuple[str, int], list[int]] = {}
        self._cost: dict[int, float] = {}  # seconds an invocation of each version takes, moving average
        self.history: list[dict] = []
        self.failed_versions: list[dict] = []  # the deployer's record of versions that did not deploy
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")  # the counters below start here
        self.invocations = 0  # requests answered with predictions
        self.errors = 0  # requests answered with an error status
        self._lock = threading.Lock()

    # -- serving, as socketserver does it -------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._transport.serve_forever(poll_interval)

    def shutdown(self) -> None:
        self._transport.shutdown()

    def server_close(self) -> None:
        self._transport.server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def read_timeout(self) -> float:
        return self.limits.read_timeout

    @read_timeout.setter
    def read_timeout(self, seconds: float) -> None:
        self.limits.read_timeout = seconds

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    # -- state ----------------------------------------------------------------------------------------

    def count(self, error: bool, fleet: Fleet | None = None) -> None:
        """One answered invocation (worker threads count concurrently: under the lock)."""
        with self._lock:
            if error:
                self.errors += 1
            else:
                self.invocations += 1
            if fleet is not None:
                counts = self._variant_counts.setdefault((fleet.variant, fleet.deployment.version.version), [0, 0])
                counts[error] += 1

    @property
    def deployment(self) -> Deployment | None:
        """What the endpoint reports as live (a rollout's target, a split's heaviest variant)."""
        routing = self.routing
        return routing.primary if routing else None

    def swap(self, version: ModelVersion, model: inference.LoadedModel) -> None:
        """Serve ``version`` alone, at once (a shadow of another version stays)."""
        self.set_routing(Routing.single(Deployment(version, model), VARIANT, self._shadow_beside(version)))
        self.record_history(version)

    def record_history(self, version: ModelVersion) -> None:
        with self._lock:
            self.history.append({"version": version.version, "group": version.group,
                                 "since": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
        self.write_state()

    def _shadow_beside(self, version: ModelVersion) -> Fleet | None:
        """The current shadow, unless it is ``version`` (a shadowed version that goes live stops shadowing)."""
        shadow = self.routing.shadow if self.routing else None
        return None if shadow is None or shadow.deployment.version.version == version.version else shadow

    def set_routing(self, routing: Routing) -> None:
        """Replace what serves in one assignment; starts or stops the shadow's runner to match."""
        previous = self.routing.shadow if self.routing else None
        self.routing = routing  # one assignment: a request sees the old routing or the new, never neither
        if routing.shadow is not previous:
            if self.shadow is not None:
                self.shadow.stop()
            self.shadow = None if routing.shadow is None else ShadowRunner(
                routing.shadow, self.capture.folder.parent / routing.shadow.variant if self.capture else None,
                self.idle_for)
        self.write_state()

    def _quick(self, fleet: Fleet) -> bool:
        """This version's invocations have lately taken under INLINE_SECONDS (unknown until one has run)."""
        return self._cost.get(fleet.deployment.version.version, INLINE_SECONDS) < INLINE_SECONDS

    def idle_for(self) -> float:
        """Seconds since a live invocation was last in flight (0 while one is): when a shadow may work."""
        return 0.0 if self._in_flight else time.monotonic() - self._last_done

    def watch_fleet(self, deployment: Deployment | None, watch) -> None:
        """Feed ``deployment``'s requests to ``watch`` (a rollout's alarms); None stops."""
        self._watched = None if deployment is None else (deployment, watch)

    def _writer(self, variant: str) -> Capture | None:
        """The capture writer of ``variant`` (SageMaker keeps a folder per variant); None with capture off."""
        if self.capture is None:
            return None
        with self._lock:
            writer = self._writers.get(variant)
            if writer is None:
                writer = self._writers[variant] = self.capture.sibling(variant)
        return writer

    def close_capture(self) -> None:
        if self.shadow is not None:
            self.shadow.stop()
            self.shadow.wait()
        for writer in list(self._writers.values()):
            writer.close()

    def status(self) -> dict:
        live = self.deployment
        routing = self.routing
        with self._lock:
            counts = dict(self._variant_counts)
        variants = routing.variants() if routing else []
        for variant in variants:
            answered, failed = counts.get((variant["variant"], variant["version"]), (0, 0))
            variant.update(invocations=answered, errors=failed)
        return {
            "endpoint": self.endpoint_name,
            "url": self.url,
            "pid": os.getpid(),
            "process_started": self.started,
            "status": "InService" if live else "Creating",
            "live": None if live is None else {
                "group": live.version.group, "version": live.version.version, "arn": live.version.arn,
                "accuracy": live.version.accuracy, "since": live.since, "backend": live.model.backend,
                "classes": live.model.classes},
            "history": list(self.history),
            "failed_versions": list(self.failed_versions),
            "requests": self.invocations + self.errors,  # every answered invocation, good or bad
            "invocations": self.invocations,
            "errors": self.errors,
            "refused_busy": self.refused_busy,
            "refused_throttled": self.refused_throttled,
            "capture": str(self.capture.folder) if self.capture else None,
            "mode": self.mode,
            "max_concurrency": self.max_concurrency,
            "variants": variants,
            "shadow": self.shadow.status() if self.shadow else None,
            "rollout": self.rollout.status() if self.rollout else None,
            "layout_error": self.layout_error,
            "layout_applied": self.layout_applied,
        }

    def write_state(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status(), indent=1), encoding="utf-8")
        os.replace(tmp, self.state_file)

    # -- the ASGI app: routes, on the event loop --------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["method"] == "POST":
            answer = await self._post(scope["path"], scope, receive)
        else:
            answer = _wire(self._not_post(scope["method"], scope["path"]))
        if isinstance(answer, asyncio.Future):
            answer = await answer
        if answer is not None:
            await _send(send, *answer)

    def answer_arrived(self, scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes] | asyncio.Future:
        """The reply (status, headers, body) to a request whose body the transport holds whole: at once, or
        as a future of the loop when a worker runs it.

        Why: a small image answered on the loop spends as long in the ASGI cycle around it (a task, an
        event, the messages and their checks) as in the model's forward pass, and one run by a worker
        pays the same around its thread hand-over. The transport asks here first
        (:meth:`scones.serving.transport.DeadlineProtocol.data_received`); what is refused or answered
        is what ``__call__`` would refuse or answer: both end in :meth:`_answer_whole`.
        """
        method, path = scope["method"], scope["path"]
        if method != "POST":
            return _wire(self._not_post(method, path))
        runtime_api, refusal = self._route(path)
        if refusal is not None:
            return _wire(refusal)
        headers = _headers(scope)
        try:
            _check_length(headers, len(body))
        except (_FramingError, inference.InferenceError) as error:
            return _wire(self._body_refused(error, runtime_api))
        return self._answer_whole(body, headers, runtime_api)

    def _answer_whole(self, body: bytes, headers: dict[str, str], runtime_api: bool):
        """A whole POST's reply on the wire: refused, answered on the loop, or a future of a worker's answer."""
        admitted = self._admit(body, headers, runtime_api)
        if not isinstance(admitted, Fleet):
            return _wire(admitted)
        if self._inline(admitted, body, headers):
            # alone, small and known to be quick: answer on the loop itself; handing it to a worker and back
            # costs two thread switches, more than the model's forward pass, and nothing else waits for the loop
            return _wire(self._invoke_counted(admitted, body, headers, runtime_api))
        return self._on_worker(admitted, body, headers, runtime_api)

    def _on_worker(self, fleet: Fleet, body: bytes, headers: dict[str, str], runtime_api: bool) -> asyncio.Future:
        """The wire reply of :meth:`_invoke` run by a worker, as a future of the loop (counted in flight till done)."""
        self._in_flight += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: _wire(self._invoke(fleet, body, headers, runtime_api)))
        future.add_done_callback(self._worker_done)
        return future

    def _worker_done(self, _future) -> None:
        self._in_flight -= 1
        self._last_done = time.monotonic()

    def _not_post(self, method: str, path: str) -> Reply:
        if method == "GET":
            return self._get(path)
        error = MethodNotAllowed(f"{method} is not served; use GET /ping or POST /invocations")
        return Reply(error.status, error.to_json(), headers=(("Allow", "GET, POST"),))

    def _get(self, path: str) -> Reply:
        if path == "/ping":
            ready = self.deployment is not None
            return Reply(200 if ready else 503, b'{"status": "healthy"}' if ready else b'{"status": "no model"}')
        if path in ("/scones/status", "/status"):
            return Reply(200, json.dumps(self.status()).encode())
        return _answer(NotFound(f"no route GET {path}"))

    def _route(self, path: str) -> tuple[bool, Reply | None]:
        """(whether ``path`` is the Runtime API's, the refusal of a path or endpoint name not served, if any)."""
        match = _RUNTIME_PATH.match(path)
        runtime_api = match is not None
        if not runtime_api and path != "/invocations":
            return False, _answer(NotFound(f"no route POST {path}"))  # the transport drains the body
        if runtime_api and (match.group(1) != self.endpoint_name or self.deployment is None):
            # an endpoint name SageMaker does not know; and one with nothing live yet, which in AWS does not
            # exist until the deployer's first CreateEndpoint
            self.count(error=True)
            status, body, kind = runtime_api_errors.endpoint_not_found(match.group(1))
            return True, Reply(status, body, headers=(("x-amzn-ErrorType", f"{kind}:"),))
        return runtime_api, None

    async def _post(self, path: str, scope, receive):
        """A POST whose body is read here (it was not whole on arrival): its reply on the wire, a future of
        one, or None when the client left."""
        runtime_api, refusal = self._route(path)
        if refusal is not None:
            return _wire(refusal)
        headers = _headers(scope)
        try:
            body = await self._read_body(headers, receive)
        except (_FramingError, inference.InferenceError) as error:
            return _wire(self._body_refused(error, runtime_api))
        if body is None:
            return None  # the client left
        return self._answer_whole(body, headers, runtime_api)

    def _body_refused(self, error: Exception, runtime_api: bool) -> Reply:
        """The reply to a body refused before it reaches the handler; after a framing error the connection closes."""
        if isinstance(error, _FramingError):
            return self._error(error.error, runtime_api, front_end=True, close=True)
        return self._error(error, runtime_api, front_end=True)

    def _admit(self, body: bytes, headers: dict[str, str], runtime_api: bool) -> Reply | Fleet:
        """The fleet a whole request runs on, or its reply: refused (throttled, busy, an unknown TargetVariant),
        or, with no model deployed yet, the handler's 503 (nothing to run: answered on the spot)."""
        if self.max_concurrency is not None and self._in_flight >= self.max_concurrency:
            return self._throttled(runtime_api)
        if self._in_flight >= self.capacity:
            self.refused_busy += 1
            reply = self._error(inference.ServerBusy("every worker is busy and the queue is full"), runtime_api)
            return dataclasses.replace(reply, headers=reply.headers + (("Retry-After", "1"),))
        routing = self.routing  # read once: this request finishes on the fleet it picks here
        if routing is None:
            return self._invoke_counted(None, body, headers, runtime_api)  # ModelNotReady, counted as an invocation
        target = headers.get(TARGET_VARIANT_HEADER)
        fleet = routing.pick(random.random()) if not target else routing.target(target, random.random())
        if fleet is None:
            self.count(error=True)
            status, body, kind = runtime_api_errors.validation_error(
                f"Variant {target} does not exist for endpoint {self.endpoint_name}.")
            return Reply(status, body, headers=(("x-amzn-ErrorType", f"{kind}:"),))
        return fleet

    def _inline(self, fleet: Fleet, body: bytes, headers: dict[str, str]) -> bool:
        """Answer on the loop: nothing else in flight, a version known to be quick, a small image."""
        return self._in_flight == 0 and self._quick(fleet) and _small_image(body, headers)

    def _invoke_counted(self, fleet: Fleet | None, body: bytes, headers: dict[str, str], runtime_api: bool) -> Reply:
        """:meth:`_invoke` on this thread, counted in flight (a shadow waits for a quiet moment)."""
        self._in_flight += 1
        try:
            return self._invoke(fleet, body, headers, runtime_api)
        finally:
            self._in_flight -= 1
            self._last_done = time.monotonic()

    def _throttled(self, runtime_api: bool) -> Reply:
        """A serverless endpoint at its MaxConcurrency: SageMaker throttles (botocore retries ThrottlingException)."""
        self.refused_throttled += 1
        self.count(error=True)
        message = f"Rate exceeded: endpoint {self.endpoint_name} is at its MaxConcurrency of {self.max_concurrency}"
        if runtime_api:
            status, body, kind = runtime_api_errors.throttling(message)
            return Reply(status, body, headers=(("x-amzn-ErrorType", f"{kind}:"),))
        return Reply(429, json.dumps({"error": "throttled", "message": message}).encode(),
                     headers=(("Retry-After", "1"),))

    async def _read_body(self, headers: dict[str, str], receive) -> bytes | None:
        """The body, whole; raises a 4xx for framing SageMaker refuses, and 408 when it stalls."""
        length = _declared_length(headers)  # a refusal here is answered before the body is read (then drained)
        chunks = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BODY_SECONDS
        while True:
            try:
                async with asyncio.timeout_at(min(deadline, loop.time() + self.limits.read_timeout)):
                    message = await receive()
            except TimeoutError:
                raise _FramingError(RequestTimeout(
                    f"the request body stalled: {sum(map(len, chunks)):,} of {length:,} bytes arrived")) from None
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        _check_length(headers, len(body), length)
        return body

    def _error(self, error: inference.InferenceError, runtime_api: bool, front_end: bool = False,
               close: bool = False, fleet: Fleet | None = None) -> Reply:
        """The handler's answer on the container path; on the Runtime API, SageMaker's around it.

        ``front_end``: SageMaker itself would refuse this before a container sees it (the body's
        size, a stalled or unframed body), so the Runtime API says ValidationError, not ModelError.
        """
        self.count(error=True, fleet=fleet)
        if not runtime_api:
            return Reply(error.status, error.to_json(), close=close)
        if front_end:
            status, body, kind = runtime_api_errors.validation_error(error.message)
        else:
            status, body, kind = runtime_api_errors.model_error(self.endpoint_name, error.status, error.to_json(),
                                                                 self.region)
        return Reply(status, body, headers=(("x-amzn-ErrorType", f"{kind}:"),), close=close)

    # -- one invocation, on a worker thread ---------------------------------------------------------------

    def _invoke(self, fleet: Fleet | None, body: bytes, headers: dict[str, str], runtime_api: bool) -> Reply:
        started = time.perf_counter()
        status = 200
        try:
            return self._predict(fleet, body, headers)
        except inference.InferenceError as error:
            status = error.status
            return self._error(error, runtime_api, fleet=fleet)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one request a 500, never the server
            status = 500
            return self._error(inference.InternalError(f"internal error: {type(exc).__name__}: {exc}"), runtime_api,
                               fleet=fleet)
        finally:
            elapsed = time.perf_counter() - started
            watched = self._watched
            if watched is not None and fleet is not None and fleet.deployment is watched[0]:
                watched[1].observe(status, elapsed * 1e6)  # ModelLatency is in µs
            if fleet is not None:  # what an invocation of this version costs, lately (decides inline answers)
                version = fleet.deployment.version.version
                self._cost[version] = elapsed if version not in self._cost else 0.8 * self._cost[version] + \
                    0.2 * elapsed

    def _predict(self, fleet: Fleet | None, body: bytes, headers: dict[str, str]) -> Reply:
        if fleet is None:
            raise ModelNotReady("no model is deployed yet: approve a version in the registry")
        deployment = fleet.deployment
        content_type = headers.get("content-type") or "application/x-image"
        accept = headers.get("accept") or "application/json"
        output, output_type = inference.handle(body, content_type, accept, deployment.model)
        self.count(error=False, fleet=fleet)
        version = deployment.version.version
        shadow = self.shadow
        if self.capture is not None or shadow is not None:
            # InvokeEndpoint's InferenceId (this header) is what ground truth is later joined on, as in SageMaker;
            # the eventId is what a shadow's answer to the same request is joined on; without a shadow the capture
            # record gets its own where it is written, off the request path
            inference_id = headers.get(INFERENCE_ID_HEADER.lower(), "")[:64]
            metadata = {**({"eventId": str(uuid.uuid4())} if shadow is not None else {}),
                        **({"inferenceId": inference_id} if inference_id else {})}
            writer = self._writer(fleet.variant)
            if writer is not None:  # queued before replying: a client that saw the answer can flush it
                writer.record(content_type, body, output_type, output, modelVersion=str(version), **metadata)
            if shadow is not None and random.random() < shadow.fleet.weight:
                shadow.offer(body, content_type, accept, metadata)
        return Reply(200, output, output_type, headers=(
            ("x-Amzn-Invoked-Production-Variant", fleet.variant),
            ("X-Amzn-SageMaker-Custom-Attributes", f"model-version={version}"),
        ))


class _FramingError(Exception):
    """A refusal after which the connection's byte stream cannot be trusted: the reply closes it."""

    def __init__(self, error: inference.InferenceError):
        super().__init__(error.message)
        self.error = error


def _answer(error: inference.InferenceError) -> Reply:
    return Reply(error.status, error.to_json())


def _small_image(body: bytes, headers: dict[str, str]) -> bool:
    """One PNG, small enough by its bytes and its header's pixel count to decode on the loop.

    Read from the IHDR chunk's fixed place (opening it with Pillow would cost as much as the hop it
    saves); anything else -- another format, a damaged header -- goes to a worker, which refuses it
    with the handler's own message if it must.
    """
    kind = media_type(headers.get("content-type") or "application/x-image")
    header = png_header(body) if len(body) <= INLINE_BYTES and kind in inference.IMAGE_TYPES else None
    return header is not None and 0 < header[0] * header[1] <= INLINE_PIXELS


def _headers(scope) -> dict[str, str]:
    """Request headers by lower-case name (ASGI gives them lower-cased, as bytes)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _declared_length(headers: dict[str, str]) -> int:
    """The body's declared length; raises 411 (:func:`_content_length`) or 413 for one over SageMaker's 6 MB."""
    length = _content_length(headers)
    if length > inference.MAX_PAYLOAD_BYTES:
        raise inference.PayloadTooLarge(
            f"payload is {length:,} bytes; the limit is {inference.MAX_PAYLOAD_BYTES:,} (6 MB)")
    return length


def _check_length(headers: dict[str, str], received: int, length: int | None = None) -> None:
    """Refuse a whole body whose size is not the declared one (or what :func:`_declared_length` refuses)."""
    length = _declared_length(headers) if length is None else length
    if received != length:
        raise _FramingError(inference.InferenceError(f"the body has {received:,} bytes, not {length:,}"))


def _content_length(headers: dict[str, str]) -> int:
    """The declared body length; raises a 411 for a chunked or missing one (SageMaker needs the length)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _FramingError(LengthRequired("chunked bodies are not accepted; send Content-Length"))
    value = headers.get("content-length")
    if value is None:
        raise _FramingError(LengthRequired("Content-Length header is required"))
    return int(value)  # the parser has already refused a malformed or negative one with a 400


def _wire(reply: Reply) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, header fields, body): a reply as the transport writes it."""
    return reply.status, _fields(reply), reply.body


def _fields(reply: Reply) -> list[tuple[bytes, bytes]]:
    """The reply's header fields, as ASGI gives them."""
    headers = [(b"content-type", reply.content_type.encode("latin-1")),
               (b"content-length", str(len(reply.body)).encode())]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
    if reply.close:
        headers.append((b"connection", b"close"))
    return headers


async def _send(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """A reply on the wire (:func:`_wire`) as ASGI messages."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class NotFound(inference.InferenceError):
    status, code = 404, "not_found"


class MethodNotAllowed(inference.InferenceError):
    status, code = 405, "method_not_allowed"


class ModelNotReady(inference.InferenceError):
    status, code = 503, "model_not_ready"


class LengthRequired(inference.InferenceError):
    status, code = 411, "length_required"


class RequestTimeout(inference.InferenceError):
    status, code = 408, "request_timeout"


class LocalEndpointBackend(EndpointBackend):
    """The deployer's view of the local endpoint: load beside, check, then swap -- or roll out by steps.

    With a live version and a rollout (:mod:`scones.serving.rollout`), the new version takes traffic by
    the rollout's steps under the rollback alarms; the first step applies before :meth:`deploy`
    returns, so an approval is visible at once (all at once: the whole of it, then a bake).
    """

    def __init__(self, server: EndpointServer, loader: ModelLoader, log=print, rollout=None,
                 alarm_period: float | None = None, on_rollback=None, controller=None):
        self.server = server
        self.loader = loader
        self.log = log
        self.rollout = rollout
        self.alarm_period = alarm_period
        self.on_rollback = on_rollback
        self.controller = controller  # the layout controller: an approval ends a split

    def live_version(self) -> ModelVersion | None:
        deployment = self.server.deployment
        return deployment.version if deployment else None

    def deploy(self, version: ModelVersion) -> None:
        from scones.deploy.alarms import AlarmWatch
        from scones.serving.rollout import RolloutDriver

        started = time.monotonic()
        model = self.loader.load(version)
        old, current = self.server.deployment, self.server.rollout
        if current is not None and current.is_alive():
            current.cancel()
        if old is None or self.rollout is None:
            self.server.swap(version, model)
            how = "live"
        else:
            routing = self.server.routing  # a shadow of the version going live stops shadowing, as with a swap
            self.server.set_routing(Routing(routing.fleets, routing.primary, self.server._shadow_beside(version)))
            driver = RolloutDriver(self.server, old, Deployment(version, model), self.rollout,
                                   AlarmWatch(period=self.alarm_period), self.log, self.on_rollback)
            self.server.rollout = driver
            driver.begin()
            self.server.record_history(version)
            how = f"rolling out ({self.rollout}: {driver.steps[0]:.0%} of traffic now)"
        if self.controller is not None:
            self.controller.deployed(version.version)
        self.log(f"endpoint {self.server.endpoint_name}: {version.group}/{version.version} {how} "
                 f"({model.backend}, loaded and checked in {time.monotonic() - started:.2f} s)")


class RegistryWatcher(threading.Thread):
    """Follows "a version changed" events (:mod:`scones.events`), as EventBridge feeds the deployer Lambda."""

    def __init__(self, events: EventSource, deployer: Deployer, poll_seconds: float | None = None, log=print,
                 controller=None):
        super().__init__(name="registry-watcher", daemon=True)
        self.events = events
        self.deployer = deployer
        self.controller = controller  # applies split and shadow requests on the same beat
        self.poll_seconds = poll_seconds or events.poll_seconds
        self.log = log
        events.start()
        self.stopped = threading.Event()
        self.decisions: list[dict] = []

    def poll_once(self) -> None:
        try:
            events = self.events.poll()
        except SconesError as exc:  # the registry is unreachable for now: try again next poll
            self.log(f"deployer: cannot read registry events: {exc.message}")
            return
        for event_id, event in events:
            try:
                decision = self.deployer.handle(event)
            except SconesError as exc:  # a bad version must not stop the endpoint
                self.log(f"deployer: event {event_id} not applied: {exc.message}")
                continue
            self.decisions.append(decision.to_dict())
            if decision.action != "ignored":
                self.log(f"deployer: {decision.action} v{decision.version} ({decision.reason})")
        if self.controller is not None:
            self.controller.poll()

    def run(self) -> None:
        while not self.stopped.wait(self.poll_seconds):
            self.poll_once()

    def stop(self) -> None:
        self.stopped.set()
