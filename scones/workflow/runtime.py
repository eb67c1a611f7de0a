"""Run the very same state machine JSON on this machine, no AWS account needed.

The interpreter is moto's Step Functions engine (LocalStack's ASL parser and
executor, vendored by moto), inside ``mock_aws``: the state machine, the S3
bucket holding the images and the SNS review topic are moto resources created
through boto3, as in AWS.

moto runs no Lambda code without Docker. So the interpreter's Lambda
integration -- ``lambda_eval_utils._invoke_lambda_function``, one private
function of moto 5.2.5 (pinned; ``tests/inference_workflow`` fails if it moves)
-- is pointed at :class:`InProcessLambdas`, which calls the Python handlers
directly and answers as the Lambda service does: ``Payload`` on success,
``FunctionError: Unhandled`` with ``errorType``/``errorMessage`` on an
exception, so Retry and Catch see the same error names as in AWS. Skipping the
Lambda API's request path is also what keeps a task at a few milliseconds.

This module plays the Lambda service too: :func:`workflow_handlers` loads each task's
handler module by the name its row in :data:`inference_workflow.tasks.TASKS` gives (the
``Handler`` string the template hands Lambda), never by a static import -- the platform
stays below the functions it runs. Configuration flows in as arguments: each handler
gets the settings its row names and clients for this world (``make_handler(env, clients)``),
so no run changes ``os.environ``. The classifier's runtime client points at the local
endpoint's URL; moto passes requests to non-AWS hosts through. ``mock_aws`` patches
the process (its fake credentials, botocore), so one runner at a time is active in a
process (:data:`_ACTIVE`): the dashboard's concurrent uploads queue instead of
tearing down each other's world.

Everything that reaches into moto's interpreter (the Lambda hand-over above, and the hooks that make
it fast) is in :mod:`scones.workflow.moto_hooks`. Executions are started and read through moto's
backend instead of two boto3 round trips (:meth:`LocalWorkflowRunner.execute`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import json
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.clients import Clients
from inference_workflow.tasks import Task
from inference_workflow.workflow_config import REVIEW_ERROR, WorkflowConfig
from scones.review import item_id
from scones.workflow.moto_hooks import forget_finished_threads, local_run_hooks, wait_for_end
from scones.workflow.world_s3 import WorldS3

logger = logging.getLogger(__name__)
Handler = Callable[[Any, Any], Any]
LOCAL_BUCKET = "scones-workflow-local"
ROLE_ARN = "arn:aws:iam::123456789012:role/scones-workflow-local"


class InProcessLambdas:
    """Function name (or ARN) -> Python handler, answering like the Lambda Invoke API."""

    def __init__(self, handlers: dict[str, Handler]):
        self.handlers = handlers
        self.calls: dict[str, int] = {name: 0 for name in handlers}

    def _handler(self, function: str) -> tuple[str, Handler | None]:
        name = function.rsplit(":function:", 1)[-1].split(":", 1)[0]
        return name, self.handlers.get(name)

    def invoke(self, parameters: dict, region: str = "us-east-1", state_credentials: Any = None) -> dict:
        name, handler = self._handler(str(parameters.get("FunctionName", "")))
        payload = parameters.get("Payload")
        event = json.loads(payload) if isinstance(payload, (bytes, str)) and payload else payload
        base = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        if handler is None:
            return {**base, "FunctionError": "Unhandled", "Payload": {
                "errorType": "Lambda.ResourceNotFoundException",
                "errorMessage": f"Function not found: {parameters.get('FunctionName')}"}}
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            result = handler(event, None)
            return {**base, "Payload": json.loads(json.dumps(result))}
        except Exception as exc:  # noqa: BLE001 - Lambda reports every exception as a function error
            # Lambda's own shape; the stack trace is left out (kept in the log) so that a Map over
            # many failing images does not exceed the 256 KB state limit on traces alone
            logger.debug("%s failed: %s", name, "".join(traceback.format_exception(exc)))
            return {**base, "FunctionError": "Unhandled", "Payload": {
                "errorType": type(exc).__name__, "errorMessage": str(exc), "requestId": str(uuid.uuid4()),
                "stackTrace": []}}


@dataclass(frozen=True)
class EndpointTarget:
    """What the classifier calls and how the filter judges: handed to the handlers, never via the environment."""

    url: str
    name: str
    classes: tuple[str, ...]
    threshold: float


@dataclass(frozen=True)
class ImageBucket:
    """Where the workflow's images live when that is a real S3 API (AWS, moto_server), not the runner's world."""

    client: Any
    name: str


def local_settings(target: EndpointTarget, review_queue: str = "", review_sample: float = 0.0,
                   capture_uri: str = "") -> dict[str, str]:
    """The functions' settings on this machine, by the names the template sets them in AWS.

    ``capture_uri``: where the classifier writes capture records (only for a serverless endpoint).
    """
    return {"ENDPOINT_NAME": target.name, "CLASSES": ",".join(target.classes), "THRESHOLD": str(target.threshold),
            "REVIEW_QUEUE": review_queue, "REVIEW_SAMPLE": str(review_sample), "CAPTURE_URI": capture_uri}


def workflow_handlers(config: WorkflowConfig, target: EndpointTarget, region: str = "us-east-1",
                      images: ImageBucket | None = None, review_queue: str = "",
                      review_sample: float = 0.0, capture_uri: str = "") -> dict[str, Handler]:
    """Function name -> handler, for every row of the task table, as the Lambda service would load them.

    Each handler is its module's ``make_handler(env, clients)`` (the module named by the row's
    ``handler``, the same string the template gives Lambda as ``Handler``), with the settings the
    row lists and clients for this world: the runtime client points at the local endpoint; with
    ``images`` the serializer reads that bucket through its client, and without, the runner's own
    bucket through :class:`~scones.workflow.world_s3.WorldS3` (boto3's client, a plain read answered
    from moto's store). A handler and its clients are made when its task first runs (inside the
    runner's moto world), then kept.
    """
    clients = Clients({"s3": images.client if images else WorldS3(region)}, region=region,
                      endpoint_urls={"sagemaker-runtime": target.url})
    settings = local_settings(target, review_queue, review_sample, capture_uri)

    def on_first_call(task: Task) -> Handler:
        built: list[Handler] = []
        lock = threading.Lock()  # a Map runs iterations on threads: build once, not once per thread

        def handler(event, context=None):
            if not built:
                with lock:
                    if not built:
                        module = importlib.import_module(task.handler)
                        built.append(module.make_handler({name: settings[name] for name in task.settings}, clients))
            return built[0](event, context)

        return handler

    unknown = {name for task in config.all_tasks for name in task.settings} - settings.keys()
    if unknown:
        raise ValueError(f"the local workflow has no value for the setting(s) {', '.join(sorted(unknown))}; "
                         f"it knows {', '.join(sorted(settings))}")
    return {config.function(task): on_first_call(task) for task in config.all_tasks}


def _state_machines(machine_arn: str) -> Any:
    """moto's Step Functions backend (the executing one) for the machine's account and region."""
    from moto.stepfunctions.responses import get_backend

    _, _, _, region, account, *_ = machine_arn.split(":")
    return get_backend(account, region)


def _described(execution: Any) -> dict:
    """DescribeExecution's answer for a moto execution record, field for field as moto's API layer writes it."""
    answer = {"executionArn": execution.exec_arn, "stateMachineArn": execution.state_machine_arn,
              "name": execution.name, "status": execution.status, "input": execution.execution_input,
              "startDate": execution.start_date}
    if execution.stop_date is not None:
        answer["stopDate"] = execution.stop_date
    if execution.status == "SUCCEEDED" and execution.output is not None:
        answer["output"] = execution.output if isinstance(execution.output, str) else json.dumps(execution.output)
    answer.update({name: getattr(execution, name) for name in ("error", "cause")
                   if getattr(execution, name) is not None})
    return answer


def _freeze_heap(stack: contextlib.ExitStack) -> None:
    """Leave what exists now (modules, botocore's models, moto's backends: about 240,000 objects) out of the
    garbage collector's full passes until ``stack`` closes.

    Why: moto keeps every execution's history, so the heap grows as a Map runs and a full collection comes
    every few hundred items, each walking the whole heap: 1.0 ms of CPU per Map item on 2 cores, and 1.2-1.7
    ms saved with the heap frozen. Frozen objects are still freed when their last reference goes; only a
    cycle that is garbage at this moment waits, at most until ``stack`` closes and they are unfrozen.
    """
    gc.freeze()
    stack.callback(gc.unfreeze)


class _FullCollections:
    """Full garbage collections held off while any workflow execution runs, and allowed again when the last ends.

    Why: moto keeps the history of the execution it runs, so during a long Map the heap grows and the
    collector walks all of it every time it has grown by a quarter: four full passes of 120-145 ms in a
    Map of 1,000 images, 0.5-0.6 ms per item, beside 0.15-0.2 ms for all the young collections together
    (measured with ``gc.callbacks``). Young collections still run; a cycle that becomes garbage during an
    execution is freed by the first full pass after it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._threshold = gc.get_threshold()

    @contextlib.contextmanager
    def postponed(self):
        with self._lock:
            if self._running == 0:
                self._threshold = gc.get_threshold()
                gc.set_threshold(self._threshold[0], self._threshold[1], _NEVER)
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    gc.set_threshold(*self._threshold)


#: A count of young-generation passes that is never reached: no full collection while it is set.
_NEVER = 1 << 30
_FULL_COLLECTIONS = _FullCollections()

#: One moto world per process at a time (see the module docstring).
_ACTIVE = threading.Lock()


@dataclass(frozen=True)
class ImageResult:
    image: str
    status: str  # passed | review
    label: str = ""
    confidence: float | None = None
    inferences: tuple[float, ...] = ()
    error: str = ""
    cause: str = ""
    review_id: str = ""  # the review queue's item, when the review branch queued it (or, passed, an audit sample)

    @classmethod
    def from_map_item(cls, image: str, item: dict) -> ImageResult:
        if item.get("status") == "passed":
            return cls(image, "passed", item.get("label", ""), item.get("confidence"),
                       tuple(item.get("inferences", ())), review_id=str(item.get("audit_id") or ""))
        review = item.get("review") if isinstance(item.get("review"), dict) else {}
        return cls(image, "review", error=item.get("error", ""), cause=_cause_message(item.get("cause", "")),
                   review_id=str(review.get("id") or "") if review.get("status") != "not queued" else "")


def _cause_message(cause: str) -> str:
    """A Lambda error's Cause is the JSON payload; the message is what a person reads."""
    try:
        return json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        return cause


class LocalWorkflowRunner:
    """A moto world with the workflow's resources, executing definitions to completion."""

    def __init__(self, handlers: dict[str, Handler], config: WorkflowConfig | None = None,
                 region: str = "us-east-1", cache_dir: Path | None = None, images: ImageBucket | None = None):
        self.images = images
        self.config = config or WorkflowConfig()
        self.lambdas = InProcessLambdas(handlers)
        self.region = region
        self.cache_dir = cache_dir
        self._stack = contextlib.ExitStack()
        self.clients: dict[str, Any] = {}
        self.machines: dict[bool, str] = {}

    def __enter__(self) -> LocalWorkflowRunner:
        try:
            return self._enter()
        except BaseException:
            self._stack.close()
            raise

    def _enter(self) -> LocalWorkflowRunner:
        from moto import mock_aws

        _ACTIVE.acquire()
        self._stack.callback(_ACTIVE.release)
        self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                                                   "lambda": {"use_docker": False}}))
        self._stack.enter_context(local_run_hooks(self.lambdas))
        import boto3

        self.clients = {name: boto3.client(name, region_name=self.region)
                        for name in ("s3", "sns", "sqs", "stepfunctions")}
        if self.images is None:
            self.clients["s3"].create_bucket(Bucket=LOCAL_BUCKET)
            self.images = ImageBucket(WorldS3(self.region, self.clients["s3"]), LOCAL_BUCKET)
        topic = self.clients["sns"].create_topic(Name=self.config.review_topic_arn.rsplit(":", 1)[-1])["TopicArn"]
        self.config = dataclasses.replace(self.config, review_topic_arn=topic)  # this account's ARN
        queue = self.clients["sqs"].create_queue(QueueName="scones-human-review-inbox")["QueueUrl"]
        self.review_queue = queue
        arn = self.clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        self.clients["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"],
                                      Attributes={"RawMessageDelivery": "true"})
        _freeze_heap(self._stack)
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    def create_machine(self, batch: bool, definition: dict | None = None, name: str | None = None) -> str:
        """Create the state machine from ``definition`` (default: this module's, for this world's topic)."""
        if definition is None:
            from scones.workflow.cache import cached_definition

            definition = cached_definition(self.config, batch, self.cache_dir)
        name = name or ("scones-inference-batch" if batch else "scones-inference")
        arn = self.clients["stepfunctions"].create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)["stateMachineArn"]
        self.machines[batch] = arn
        return arn

    def machine(self, batch: bool) -> str:
        """The ARN of the single-image or batch machine, created on first use (moto parses it once: ~1 s)."""
        if batch not in self.machines:
            self.create_machine(batch)
        return self.machines[batch]

    def put_image(self, key: str, data: bytes) -> str:
        self.images.client.put_object(Bucket=self.images.name, Key=key, Body=data)
        return key

    def execute(self, machine_arn: str, payload: dict, timeout: float = 300.0) -> dict:
        """Start an execution and wait for it; returns DescribeExecution's answer.

        Why moto's backend and not boto3: a boto3 call into ``mock_aws`` costs about 2 ms of CPU
        (building and signing the request, moto's URL dispatch, parsing the answer), so StartExecution
        and DescribeExecution were a third of a single-image execution. The backend is what those two
        calls reach: the same machine lookup, input validation and execution record.
        """
        backend = _state_machines(machine_arn)
        with _FULL_COLLECTIONS.postponed():
            execution = backend.start_execution(machine_arn, uuid.uuid4().hex, json.dumps(payload))
            if not wait_for_end(execution.exec_arn, timeout):
                backend.stop_execution(execution.exec_arn)
                raise TimeoutError(f"workflow execution {execution.exec_arn} still running after {timeout:.0f} s")
        forget_finished_threads()
        return _described(execution)

    def review_messages(self) -> list[dict]:
        """What the SNS review topic received so far (via its SQS subscription)."""
        messages = []
        while True:
            batch = self.clients["sqs"].receive_message(QueueUrl=self.review_queue, MaxNumberOfMessages=10)
            if not batch.get("Messages"):
                return messages
            for message in batch["Messages"]:
                messages.append(json.loads(message["Body"]))
                self.clients["sqs"].delete_message(QueueUrl=self.review_queue,
                                                   ReceiptHandle=message["ReceiptHandle"])

    def classify_one(self, key: str) -> ImageResult:
        described = self.execute(self.machine(False), {"s3_bucket": self.images.name, "s3_key": key,
                                                          "image_data": ""})
        if described["status"] == "SUCCEEDED":
            body = json.loads(described["output"])["body"]
            return ImageResult(key, "passed", body.get("label", ""), body.get("confidence"),
                               tuple(body.get("inferences", ())), review_id=str(body.get("audit_id") or ""))
        if described.get("error") == REVIEW_ERROR or described["status"] == "FAILED":
            return ImageResult(key, "review", error=described.get("error", ""),
                               cause=_cause_message(described.get("cause", "")),
                               review_id=item_id(described["executionArn"], f"s3://{self.images.name}/{key}"))
        raise RuntimeError(f"execution ended {described['status']}")

    def classify_batch(self, keys: list[str]) -> list[ImageResult]:
        described = self.execute(self.machine(True), {"s3_bucket": self.images.name, "s3_keys": keys})
        if described["status"] == "SUCCEEDED" and "output" not in described:
            raise RuntimeError(f"batch execution over {len(keys)} images returned no output: the results exceed "
                               "the 256 KB state limit; classify fewer images per execution")
        if described["status"] != "SUCCEEDED":
            raise RuntimeError(f"batch execution {described['status']}: {described.get('error')}: "
                               f"{described.get('cause')}")
        items = json.loads(described["output"])
        return [ImageResult.from_map_item(key, item) for key, item in zip(keys, items, strict=True)]


def image_key(source: str | Path, index: int, run: str = "") -> str:
    """The image's key for one run: ``inputs/<run>/<index>-<name>`` (a reviewer later sees exactly this image)."""
    name = Path(str(source).rstrip("/")).name or f"image-{index}"
    return f"inputs/{run + '/' if run else ''}{index:05d}-{name}"
