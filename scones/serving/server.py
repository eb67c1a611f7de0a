"""The local endpoint: a real HTTP server on SageMaker's two contracts.

- The container contract: ``GET /ping``, ``POST /invocations`` (what SageMaker
  sends a model container).
- The Runtime API: ``POST /endpoints/{name}/invocations``, so boto3's
  ``sagemaker-runtime`` client with ``endpoint_url`` set calls it unchanged, and errors come
  back as SageMaker's: ``ModelError`` (424) around what the model refused or failed,
  ``ValidationError`` (400) for what SageMaker refuses itself (:mod:`scones.serving.runtime_api`).

Requests run the model artifact's own handler (``training.inference``), and
every answered request is captured in SageMaker's data-capture format.

Hostile and bursty clients: the listen backlog holds 1,024 connections; a bounded pool of
worker threads serves them (``workers``), at most ``pending`` more wait for one, and beyond that a
connection gets an immediate 503 with ``Retry-After``. Every socket read has a timeout (slow
headers are cut off, a stalled body gets a 408); Content-Length is required and checked (negative
-> 400, missing -> 411, over 6 MB -> 413 sent before the rest is drained, so the client reads the
status instead of a broken pipe). While connections wait, a keep-alive connection is closed after
its current request, so idle clients cannot starve the queue.

Zero-downtime redeploys: a new version is downloaded, loaded and checked on a
probe image *beside* the live one, then swapped in with one reference
assignment. A request reads the reference once, so in-flight requests finish
on the model they started with. A version that fails its check never goes
live. The swap is driven by :class:`scones.deploy.Deployer` -- the same rules
as the AWS deployer Lambda -- fed by the local registry's event table.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from scones.deploy import Deployer, EndpointBackend
from scones.errors import SconesError
from scones.events import EventSource
from scones.registry import ModelVersion
from scones.serving import runtime_api as runtime_api_errors
from scones.serving.capture import CaptureWriter
from scones.store import ArtifactStore
from training import inference

_RUNTIME_PATH = re.compile(r"^/endpoints/([A-Za-z0-9\-]{1,63})/invocations$")
VARIANT = "AllTraffic"
#: The header botocore sends for InvokeEndpoint's InferenceId; the capture record keeps it as eventMetadata.inferenceId.
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"


@dataclass(frozen=True)
class Deployment:
    version: ModelVersion
    model: inference.LoadedModel
    since: str


class ModelLoader:
    """Model package -> loaded, checked model (download, unpack, probe)."""

    def __init__(self, store: ArtifactStore, cache_dir: Path, threads: int | None = None):
        self.store = store
        self.cache_dir = Path(cache_dir)
        self.threads = threads

    def load(self, version: ModelVersion) -> inference.LoadedModel:
        """Raises SconesError naming the version when it cannot be fetched, unpacked, loaded or checked."""
        try:
            return self._load(version)
        except SconesError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a candidate model must leave the live one serving
            raise SconesError(f"version {version.version} cannot be served: {type(exc).__name__}: {exc}") from exc

    def _load(self, version: ModelVersion) -> inference.LoadedModel:
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
        model = inference.LoadedModel(folder, threads=self.threads)
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


#: Connections the kernel queues before ``accept`` (Python's default of 5 drops bursts).
LISTEN_BACKLOG = 1024
#: Worker threads, connections that may wait for one, and the per-read socket timeout in seconds.
DEFAULT_WORKERS, DEFAULT_PENDING, DEFAULT_READ_TIMEOUT = 32, 1024, 10.0
_BUSY_BODY = b'{"error": "server_busy", "message": "every worker is busy and the queue is full"}\n'
_BUSY_REPLY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class EndpointServer(ThreadingHTTPServer):
    """Serves one endpoint name; ``deployment`` is swapped atomically on redeploy."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], endpoint_name: str, capture: CaptureWriter | None = None,
                 state_file: Path | None = None, workers: int = DEFAULT_WORKERS, pending: int = DEFAULT_PENDING,
                 read_timeout: float = DEFAULT_READ_TIMEOUT):
        # before binding: a failed bind calls server_close, which shuts the pool down
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="endpoint-worker")
        super().__init__(address, RequestHandler)
        self.read_timeout = read_timeout
        self._slots = threading.BoundedSemaphore(workers + pending)
        self._workers = workers
        self._admitted = 0  # connections handed to the pool and not finished
        self.refused_busy = 0
        self.endpoint_name = endpoint_name
        self.region = runtime_api_errors.REGION  # named in ModelError's log stream ARN
        self.capture = capture
        self.state_file = state_file
        self.deployment: Deployment | None = None
        self.history: list[dict] = []
        self.failed_versions: list[dict] = []  # the deployer's record of versions that did not deploy
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")  # the counters below start here
        self.invocations = 0  # requests answered with predictions
        self.errors = 0  # requests answered with an error status
        self._lock = threading.Lock()

    def count(self, error: bool) -> None:
        """One answered invocation (worker threads count concurrently: under the lock)."""
        with self._lock:
            if error:
                self.errors += 1
            else:
                self.invocations += 1

    def process_request(self, request, client_address) -> None:
        """Hand the connection to the pool, or answer 503 at once when workers and queue are full."""
        if not self._slots.acquire(blocking=False):
            self.refused_busy += 1
            self._refuse(request)
            return
        with self._lock:
            self._admitted += 1
        self._pool.submit(self._work, request, client_address)

    def _work(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's contract: report, then carry on
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._admitted -= 1
            self._slots.release()

    @property
    def waiting(self) -> bool:
        """True when connections are queued for a worker (keep-alive then yields after each request)."""
        return self._admitted > self._workers

    @staticmethod
    def _refuse(request: socket.socket) -> None:
        try:
            request.settimeout(1.0)
            request.sendall(_BUSY_REPLY)
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            request.close()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def swap(self, version: ModelVersion, model: inference.LoadedModel) -> None:
        deployment = Deployment(version, model, dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.deployment = deployment  # one assignment: requests see the old or the new model, never neither
        with self._lock:
            self.history.append({"version": version.version, "group": version.group, "since": deployment.since})
        self.write_state()

    def status(self) -> dict:
        live = self.deployment
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
            "capture": str(self.capture.folder) if self.capture else None,
        }

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up is routine; anything else is logged in one line, and serving goes on."""
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        print(f"endpoint: request from {client_address[0]} failed: {type(error).__name__}: {error}", flush=True)

    def write_state(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status(), indent=1), encoding="utf-8")
        os.replace(tmp, self.state_file)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3 and load balancers expect
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart (delayed ACK)
    server: EndpointServer
    error_content_type = "application/json"
    _after_reply = None  # work to do once the reply is sent (draining a refused body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        return  # one line per request would dominate the latency budget; capture records requests

    def setup(self) -> None:
        self.timeout = self.server.read_timeout  # every read: slow headers and stalled bodies end here
        super().setup()

    def _reply(self, status: int, body: bytes, content_type: str = "application/json",
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.server.waiting:
            self.close_connection = True  # others are queued: an idle keep-alive must not hold this worker
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error: inference.InferenceError, runtime_api: bool, front_end: bool = False) -> None:
        """The handler's answer on the container path; on the Runtime API, SageMaker's around it.

        ``front_end``: SageMaker itself would refuse this before a container sees it (the body's
        size, a stalled or unframed body), so the Runtime API says ValidationError, not ModelError.
        """
        self.server.count(error=True)
        if not runtime_api:
            self._reply(error.status, error.to_json())
        else:
            if front_end:
                status, body, kind = runtime_api_errors.validation_error(error.message)
            else:
                status, body, kind = runtime_api_errors.model_error(self.server.endpoint_name, error.status,
                                                                     error.to_json(), self.server.region)
            self._reply(status, body, headers={"x-amzn-ErrorType": f"{kind}:"})
        after, self._after_reply = self._after_reply, None
        if after is not None:
            after()

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path == "/ping":
            ready = self.server.deployment is not None
            self._reply(200 if ready else 503, b'{"status": "healthy"}' if ready else b'{"status": "no model"}')
        elif self.path in ("/scones/status", "/status"):
            self._reply(200, json.dumps(self.server.status()).encode())
        else:
            self._reply(404, json.dumps({"error": "not_found", "message": f"no route GET {self.path}"}).encode())

    def do_POST(self) -> None:  # noqa: N802
        match = _RUNTIME_PATH.match(self.path.split("?", 1)[0])
        runtime_api = match is not None
        if not runtime_api and self.path != "/invocations":
            self._drain()
            self._reply(404, json.dumps({"error": "not_found", "message": f"no route POST {self.path}"}).encode())
            return
        if runtime_api and (match.group(1) != self.server.endpoint_name or self.server.deployment is None):
            # an endpoint name SageMaker does not know; and one with nothing live yet, which in AWS does not
            # exist until the deployer's first CreateEndpoint
            self._drain()
            self.server.count(error=True)
            status, body, kind = runtime_api_errors.endpoint_not_found(match.group(1))
            self._reply(status, body, headers={"x-amzn-ErrorType": f"{kind}:"})
            return
        try:
            body = self._read_body()
        except inference.InferenceError as error:
            self._error(error, runtime_api, front_end=True)
            return
        except TimeoutError:
            self.close_connection = True
            self._error(RequestTimeout(f"the request body stalled for {self.server.read_timeout:g} s"), runtime_api,
                        front_end=True)
            return
        try:
            self._invoke(body, runtime_api)
        except inference.InferenceError as error:
            self._error(error, runtime_api)
        except ConnectionError:
            raise  # the client left: nothing to answer
        except Exception as exc:  # noqa: BLE001 - a bug must cost one request a 500, never the server
            self._error(inference.InternalError(f"internal error: {type(exc).__name__}: {exc}"), runtime_api)

    def _drain(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 < length <= inference.MAX_PAYLOAD_BYTES:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _content_length(self) -> int:
        """The declared body length; raises a 4xx for a chunked, missing, malformed or negative one."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise LengthRequired("chunked bodies are not accepted; send Content-Length")
        value = self.headers.get("Content-Length")
        if value is None:
            self.close_connection = True
            raise LengthRequired("Content-Length header is required")
        try:
            length = int(value.strip())
        except ValueError:
            length = -1
        if length < 0 or not value.strip().isdigit():
            self.close_connection = True
            raise inference.InferenceError(f"Content-Length must be a non-negative integer, got {value!r}")
        return length

    def _read_body(self) -> bytes:
        length = self._content_length()
        if length > inference.MAX_PAYLOAD_BYTES:
            self.close_connection = True
            self._after_reply = lambda: self._discard(length)  # read the rest so the client sees the 413
            raise inference.PayloadTooLarge(
                f"payload is {length:,} bytes; the limit is {inference.MAX_PAYLOAD_BYTES:,} (6 MB)")
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise inference.InferenceError(f"the body ended after {len(body):,} of {length:,} bytes")
        return body

    def _discard(self, length: int, limit: int = 64 * 1024 * 1024, seconds: float = 5.0) -> None:
        """Read and drop what the client is still sending (bounded), after the reply has gone out."""
        deadline = time.monotonic() + seconds
        left = min(length, limit)
        try:
            self.wfile.flush()
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _invoke(self, body: bytes, runtime_api: bool) -> None:
        deployment = self.server.deployment  # read once: this request finishes on this model
        if deployment is None:
            raise ModelNotReady("no model is deployed yet: approve a version in the registry")
        content_type = self.headers.get("Content-Type") or "application/x-image"
        accept = self.headers.get("Accept") or "application/json"
        batch = inference.input_fn(body, content_type)
        output, output_type = inference.output_fn(inference.predict_fn(batch, deployment.model), accept)
        self.server.count(error=False)
        version = deployment.version.version
        if self.server.capture is not None:  # queued before replying: a client that saw the answer can flush it
            # InvokeEndpoint's InferenceId (this header) is what ground truth is later joined on, as in SageMaker
            inference_id = (self.headers.get(INFERENCE_ID_HEADER) or "")[:64]
            self.server.capture.record(content_type, body, output_type, output, modelVersion=str(version),
                                       **({"inferenceId": inference_id} if inference_id else {}))
        self._reply(200, output, output_type, headers={
            "x-Amzn-Invoked-Production-Variant": VARIANT,
            "X-Amzn-SageMaker-Custom-Attributes": f"model-version={version}",
        })


class ModelNotReady(inference.InferenceError):
    status, code = 503, "model_not_ready"


class LengthRequired(inference.InferenceError):
    status, code = 411, "length_required"


class RequestTimeout(inference.InferenceError):
    status, code = 408, "request_timeout"


class LocalEndpointBackend(EndpointBackend):
    """The deployer's view of the local endpoint: load beside, check, swap."""

    def __init__(self, server: EndpointServer, loader: ModelLoader, log=print):
        self.server = server
        self.loader = loader
        self.log = log

    def live_version(self) -> ModelVersion | None:
        deployment = self.server.deployment
        return deployment.version if deployment else None

    def deploy(self, version: ModelVersion) -> None:
        started = time.monotonic()
        model = self.loader.load(version)
        self.server.swap(version, model)
        self.log(f"endpoint {self.server.endpoint_name}: {version.group}/{version.version} live "
                 f"({model.backend}, loaded and checked in {time.monotonic() - started:.2f} s)")


class RegistryWatcher(threading.Thread):
    """Follows "a version changed" events (:mod:`scones.events`), as EventBridge feeds the deployer Lambda."""

    def __init__(self, events: EventSource, deployer: Deployer, poll_seconds: float | None = None, log=print):
        super().__init__(name="registry-watcher", daemon=True)
        self.events = events
        self.deployer = deployer
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

    def run(self) -> None:
        while not self.stopped.wait(self.poll_seconds):
            self.poll_once()

    def stop(self) -> None:
        self.stopped.set()
