"""Serving handler in SageMaker's PyTorch inference-toolkit shape.

``model_fn`` / ``input_fn`` / ``predict_fn`` / ``output_fn`` are the handler; the local
endpoint and the evaluation step call the very same functions, so the probabilities users see
in production are the ones the evaluation measured. SageMaker's PyTorch serving container
(``sagemaker-pytorch-inference`` on TorchServe) is given ``model_fn`` and :func:`transform_fn`,
which runs those three and answers a refused request with its own status and JSON: the
toolkit's ``Transformer`` turns any exception that is not its own type into a 500 with a
Python traceback in the body, and even its own type gets the traceback appended.

Accepted bodies: one image (``image/png``, ``image/jpeg``, ``application/x-image``),
a JSON batch (``application/json``): ``{"instances": ["<base64>", ...]}``, a bare
list of base64 strings, or items shaped ``{"b64": ...}`` / ``{"image_data": ...}``,
or raw uint8 pixels as ``application/x-npy`` (SageMaker's NumpySerializer).
The reply is JSON probabilities in ``classes.json`` order: ``[0.91, 0.09]`` for
one image, one such list per image for a batch.
"""

from __future__ import annotations

import binascii
import io
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common import defaults
from common.content_types import media_type
from common.imaging import (
    INPUT_SIZE,
    MAX_PIXELS,
    ImageError,
    fitted_pixels,
    inspect,
    load_image,
    normalize,
    plain_png,
    to_pixels,
)
from training.calibration import softmax

#: SageMaker real-time endpoints refuse request bodies over 6 MB.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_BATCH = 1024
#: Decoded pixels all requests of this process may hold at once: concurrent large images wait for
#: each other (up to DECODE_WAIT_SECONDS, then 503) instead of multiplying memory.
MAX_PIXELS_IN_FLIGHT, DECODE_WAIT_SECONDS = 48_000_000, 10.0
#: Decoded pixels one request may hold in all (each image is also capped at MAX_PIXELS): never more
#: than the whole process budget, or such a request would wait for room that can never exist.
MAX_REQUEST_PIXELS = MAX_PIXELS_IN_FLIGHT
IMAGE_TYPES = frozenset({*defaults.IMAGE_CONTENT_TYPES, "image/jpg", "image/webp"})  # and common aliases
JSON_TYPE = "application/json"
#: Raw pixels, as SageMaker's NumpySerializer sends them: uint8 (N, S, S, 3) or (S, S, 3), S = input size.
#: Skips image decoding, which bounds PNG batches at a few thousand images/s per core.
NPY_TYPE = defaults.NPY_CONTENT_TYPE


class InferenceError(ValueError):
    """A request the model cannot answer; ``status`` is the HTTP status to reply with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_json(self) -> bytes:
        return json.dumps({"error": self.code, "message": self.message}).encode()


class UnsupportedContentType(InferenceError):
    status, code = 415, "unsupported_content_type"


class PayloadTooLarge(InferenceError):
    status, code = 413, "payload_too_large"


class InvalidImage(InferenceError):
    status, code = 400, "invalid_image"


class InvalidJson(InferenceError):
    status, code = 400, "invalid_json"


class InvalidNpy(InferenceError):
    status, code = 400, "invalid_npy"


class InternalError(InferenceError):
    """A failure of the model or the handler itself (a bug): 500, one line, never a traceback to the client."""

    status, code = 500, "internal_error"


class ServerBusy(InferenceError):
    status, code = 503, "server_busy"


class PixelBudget:
    """Decoded pixels held by all requests of this process at once: a counting semaphore in pixels."""

    def __init__(self, capacity: int, wait_seconds: float = DECODE_WAIT_SECONDS):
        self.capacity, self.wait_seconds, self.used = capacity, wait_seconds, 0
        self._changed = threading.Condition()

    def acquire(self, pixels: int, where: str) -> None:
        """Reserve ``pixels``; raises :class:`ServerBusy` when they do not free up within the wait."""
        deadline = time.monotonic() + self.wait_seconds
        with self._changed:
            while self.used + pixels > self.capacity:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerBusy(f"{where} needs {pixels:,} pixels and other requests are decoding "
                                     f"{self.used:,} of {self.capacity:,}; retry shortly")
                self._changed.wait(left)
            self.used += pixels

    def release(self, pixels: int) -> None:
        with self._changed:
            self.used -= pixels
            self._changed.notify_all()
        if pixels >= TRIM_AFTER_PIXELS:
            _trim_heap()


#: After releasing this many decoded pixels, hand free heap memory back to the OS: glibc keeps freed
#: memory in per-thread arenas, so large images decoded on different worker threads would otherwise
#: add up in the resident size even though only one is decoded at a time.
TRIM_AFTER_PIXELS = 4_000_000


def _trim_heap() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to trim


DECODE_BUDGET = PixelBudget(MAX_PIXELS_IN_FLIGHT)


@dataclass(frozen=True)
class Batch:
    """A request's images and whether the caller sent one image (reply: one flat list).

    Every image's header has been read (format, size, the pixel budgets taken); its pixels are
    decoded by :meth:`load` (what ``input_fn`` does, so a truncated file is refused there) or chunk
    by chunk by :meth:`chunk`, so that :func:`predict_fn` can decode and pass forward several chunks
    at once, one per core. Images are fitted to the model's input size only then:
    ``input_fn`` has no model, and during a swap the endpoint holds two models whose
    ``model_info.json`` may give different sizes. A request's decoded pixels are bounded by
    :data:`MAX_REQUEST_PIXELS`.
    """

    single: bool
    images: tuple = ()  # PIL images or PlainPng layouts at their own size, inspected (decoded once loaded)
    names: tuple = ()  # where each image came from ("body", "instances[3]"), for the error that names it
    pixels: np.ndarray | None = None  # uint8 N x S x S x 3, from application/x-npy
    reserved: list = field(default_factory=lambda: [0])  # pixels held in DECODE_BUDGET until released

    def release(self) -> None:
        """Give the decoded pixels' reservation back (idempotent); the images must not be used after."""
        pixels, self.reserved[0] = self.reserved[0], 0
        if pixels:
            DECODE_BUDGET.release(pixels)

    def __len__(self) -> int:
        return len(self.pixels) if self.pixels is not None else len(self.images)

    def load(self) -> Batch:
        """Decode every image now (a truncated one is refused here, as a 400 naming it)."""
        for image, where in zip(self.images, self.names, strict=True):
            _load(image, where)
        return self

    def inputs(self, size: int) -> np.ndarray:
        """N x 3 x size x size float32, every image fitted as :func:`common.imaging.fit_to_input` says."""
        return self.chunk(0, size, len(self))

    def chunk(self, start: int, size: int, count: int) -> np.ndarray:
        """The model's input for images ``start`` to ``start + count``, decoded now (chunks are independent, so
        several can be decoded at once; a truncated image raises InvalidImage naming it)."""
        if self.pixels is not None:
            if self.pixels.shape[1:3] != (size, size):
                raise InvalidNpy(f"pixels are {self.pixels.shape[1]}x{self.pixels.shape[2]}; this model takes "
                                 f"{size}x{size} (model_info.json input_size)")
            return normalize(self.pixels[start:start + count])
        images = self.images[start:start + count]
        pixels = np.empty((len(images), size, size, 3), dtype=np.uint8)
        for index, (image, where) in enumerate(zip(images, self.names[start:start + count], strict=True)):
            pixels[index] = fitted_pixels(_load(image, where), size)
        return normalize(pixels)


def _load(image, where: str):
    """Decode an inspected image's pixels (a no-op once done); raises InvalidImage naming ``where``."""
    try:
        return load_image(image)
    except ImageError as exc:
        raise InvalidImage(f"{where}: {exc.message}") from exc


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # N x C, rows sum to 1
    single: bool


#: From this many images a request's forward pass uses the model's parallel session.
PARALLEL_BATCH = 8
#: Images per chunk of a batch of at least two chunks: each chunk is decoded and passed forward on one core.
#: 32 is also where ONNX Runtime is fastest per image on this small CNN (a chunk stays in cache: 256 images in
#: chunks of 32 take 8 ms on 2 threads, in one run 14 ms).
CHUNK = 32
#: The threads a batch's chunks are decoded and passed forward on, one per core (each pass is single-threaded).
_FORWARDS = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="forward")


class LoadedModel:
    """A model artifact folder loaded for inference (ONNX Runtime, the state dict, or TorchScript: see ``_load``)."""

    def __init__(self, model_dir: Path, threads: int | None = None):
        self.model_dir = Path(model_dir)
        self.classes: list[str] = json.loads((self.model_dir / "classes.json").read_text(encoding="utf-8"))
        info_path = self.model_dir / "model_info.json"
        self.info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        self.input_size = int(self.info.get("input_size", INPUT_SIZE))
        self.temperature = float(self.info.get("temperature", 1.0))
        if not (self.temperature > 0 and np.isfinite(self.temperature)):
            raise ValueError(f"{info_path}: temperature must be a positive number, got {self.temperature}")
        threads = threads or int(os.environ.get("SCONES_INFERENCE_THREADS", "0")) or None
        self.backend, self._run, self._serial = self._load(threads)

    def _load(self, threads: int | None):
        """ONNX Runtime when installed, else the state dict on this torch, else TorchScript.

        ``SCONES_INFERENCE_BACKEND`` (read once, at load) picks one: ``onnx`` (the default order),
        ``state_dict`` or ``torchscript``. The state dict comes before TorchScript because AWS's
        serving image has an older torch than the one that wrote the artifact (see training/artifact.py).
        """
        choice = os.environ.get("SCONES_INFERENCE_BACKEND", "onnx")
        onnx_path = self.model_dir / "model.onnx"
        if onnx_path.exists() and choice == "onnx":
            try:
                import onnxruntime as ort
            except ImportError:
                ort = None
            if ort is not None:
                return "onnxruntime", *self._onnx_runners(ort, onnx_path, threads or min(2, os.cpu_count() or 1))
        import torch

        if threads:
            torch.set_num_threads(threads)
        weights = self.model_dir / "weights.pt"
        if weights.exists() and choice in ("onnx", "state_dict") and self.info.get("architecture"):
            from training.network import build

            module = build(self.info["architecture"], len(self.classes))
            module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            backend = "state_dict"
        else:
            module, backend = torch.jit.load(str(self.model_dir / "model.pt"), map_location="cpu"), "torchscript"
        module = module.eval()

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(batch)).numpy()

        return backend, run, run

    @staticmethod
    def _onnx_runners(ort, onnx_path: Path, threads: int):
        """Two sessions: one thread for small batches, ``threads`` for large ones; neither spins when idle.

        ONNX Runtime's intra-op pool spins after each run by default, burning a core while it waits
        for work: between requests on a 2-core machine that is the core the event loop and the
        clients need (measured: 1.13 cores busy at one request a millisecond, 0.17 without spinning),
        and two loaded versions (a canary, a split) spin two pools. One image gains nothing from a
        second thread (0.11 ms either way); a batch of 256 halves (18 -> 9 ms).
        """
        def session(count: int):
            options = ort.SessionOptions()
            options.intra_op_num_threads = count
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

        single = session(1)
        parallel = session(threads) if threads > 1 else single
        name = single.get_inputs()[0].name
        logits = [single.get_outputs()[0].name]  # named, not None: ORT's wrapper skips listing them per run

        def run(batch: np.ndarray) -> np.ndarray:
            return (parallel if len(batch) >= PARALLEL_BATCH else single).run(logits, {name: batch})[0]

        def serial(batch: np.ndarray) -> np.ndarray:
            return single.run(logits, {name: batch})[0]

        return run, serial

    def logits(self, array: np.ndarray) -> np.ndarray:
        """N x 3 x S x S float32 -> N x C raw network outputs."""
        return np.asarray(self._run(np.ascontiguousarray(array, dtype=np.float32)), dtype=np.float64)

    def logits_in_chunks(self, batch: Batch, count: int) -> np.ndarray:
        """Logits of a batch, ``count`` images at a time: each chunk is decoded and passed forward on a pool
        thread, one per core, so every core decodes and runs the model.

        Why: one after the other, a batch takes the sum of its decoding and its forward pass. Decoding on
        the request's thread beside the passes on the pool (the earlier way) kept one core decoding while
        the other waited for chunks: 256 PNGs took 27.1 ms in-process that way, 23.1 ms this way (medians of
        12 alternated rounds on 2 cores). Pillow's inflate and ONNX Runtime both release the interpreter lock. An error
        in a chunk (a truncated image) cancels the chunks not yet started, and the first chunk's error in
        the batch's order is the one raised, as when the chunks were decoded in order.
        """
        size = self.input_size

        def forward(start: int) -> np.ndarray:
            return self._serial(np.ascontiguousarray(batch.chunk(start, size, count), dtype=np.float32))

        futures = [_FORWARDS.submit(forward, start) for start in range(0, len(batch), count)]
        try:
            return np.concatenate([np.asarray(future.result(), dtype=np.float64) for future in futures])
        finally:
            for future in futures:
                future.cancel()
            wait(futures)  # after an error, a chunk already decoding finishes before the pixels' budget is given back

    def calibrated(self, logits: np.ndarray) -> np.ndarray:
        """N x C logits -> calibrated probabilities: softmax(logits / temperature)."""
        return softmax(logits, self.temperature).astype(np.float32)

    def predict(self, array: np.ndarray) -> np.ndarray:
        """N x 3 x S x S float32 -> N x C calibrated probabilities."""
        return self.calibrated(self.logits(array))


def model_fn(model_dir: str) -> LoadedModel:
    return LoadedModel(Path(model_dir))


def _decode_pixels(data: bytes, where: str = "body", size: int = INPUT_SIZE) -> np.ndarray:
    try:
        return to_pixels(data, size, max_pixels=MAX_PIXELS)
    except ImageError as exc:
        raise InvalidImage(f"{where}: {exc.message}") from exc


def _decode_images(encoded: Sequence[tuple[bytes, str]], single: bool) -> Batch:
    """Inspect every image within the request's and the process's pixel budgets, for decoding by
    :meth:`Batch.load` or :meth:`Batch.chunks`; the batch holds its reservation until :meth:`Batch.release`.

    Every header is read first (nothing decoded), so a request larger than the budget is refused at
    once with 413 and its number, and the whole reservation is taken in one step: a request never
    holds part of the budget while it waits for the rest (two large requests would wait for each other).
    """
    headers = []
    for data, where in encoded:
        try:
            headers.append((inspect(data, max_pixels=MAX_PIXELS), where))  # size known, nothing decoded
        except ImageError as exc:
            raise InvalidImage(f"{where}: {exc.message}") from exc
    total = sum(image.width * image.height for image, _ in headers)
    limit = min(MAX_REQUEST_PIXELS, DECODE_BUDGET.capacity)
    if total > limit:
        raise PayloadTooLarge(f"the request's {len(headers)} images hold {total:,} pixels; at most {limit:,} per "
                              "request: send fewer or smaller images per request")
    DECODE_BUDGET.acquire(total, "this request")
    return Batch(single=single, images=tuple(image for image, _ in headers), names=tuple(where for _, where in headers),
                 reserved=[total])


def _batch_items(document: object) -> list:
    if isinstance(document, dict):
        if "instances" in document:
            document = document["instances"]
        elif "image_data" in document or "b64" in document:
            return [document]
        else:
            raise InvalidJson('JSON body must be {"instances": [...]} or a list of base64 images')
    if not isinstance(document, list):
        raise InvalidJson(f"JSON batch must be a list, got {type(document).__name__}")
    return document


def _item_bytes(item: object, index: int) -> bytes:
    if isinstance(item, dict):
        item = item.get("b64", item.get("image_data"))
    if not isinstance(item, str) or not item:
        raise InvalidJson(f"instances[{index}]: expected a base64 string")
    try:
        return binascii.a2b_base64(item, strict_mode=True)  # what b64decode(validate=True) checks, in C: 2x faster
    except (binascii.Error, ValueError) as exc:
        raise InvalidJson(f"instances[{index}]: not valid base64 ({exc})") from exc


def input_fn(request_body: bytes | str, content_type: str = "application/x-image") -> Batch:
    """Request bytes -> a :class:`Batch`, every image decoded; raises :class:`InferenceError` with a 4xx status."""
    batch = read_request(request_body, content_type)
    try:
        return batch.load()
    except BaseException:
        batch.release()
        raise


def read_request(request_body: bytes | str, content_type: str = "application/x-image") -> Batch:
    """Request bytes -> a :class:`Batch` whose images are inspected, not yet decoded (:func:`handle`
    decodes them chunk by chunk, one chunk per core); refuses what ``input_fn`` refuses, a
    truncated image excepted: that is refused when it is decoded."""
    body = request_body.encode() if isinstance(request_body, str) else bytes(request_body or b"")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload is {len(body):,} bytes; the limit is {MAX_PAYLOAD_BYTES:,} (6 MB)")
    kind = media_type(content_type)
    if kind in IMAGE_TYPES:
        return _decode_images([(body, "body")], single=True)
    if kind == JSON_TYPE:
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidJson(f"body is not valid JSON ({exc})") from exc
        except RecursionError as exc:
            raise InvalidJson("body is JSON nested too deeply to be an image batch") from exc
        items = _batch_items(document)
        if not items:
            raise InvalidJson("empty batch: send at least one image")
        if len(items) > MAX_BATCH:
            raise PayloadTooLarge(f"batch of {len(items)} images; the limit is {MAX_BATCH}")
        encoded = [(_item_bytes(item, i), f"instances[{i}]") for i, item in enumerate(items)]
        return _decode_images(encoded, single=isinstance(document, dict) and "instances" not in document)
    if kind == NPY_TYPE:
        return _npy_batch(body)
    raise UnsupportedContentType(
        f"content type {content_type!r} is not supported; send one of "
        f"{sorted(IMAGE_TYPES | {JSON_TYPE, NPY_TYPE})}"
    )


def _npy_header(body: bytes) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the .npy header, refusing a header that declares more data than the body holds."""
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
            else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(stream)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise InvalidNpy(f"body is not a .npy array ({exc})") from exc
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize if dtype.itemsize else 0
    if declared > len(body):
        raise InvalidNpy(f"the .npy header declares shape {shape} ({declared:,} bytes) but the body holds "
                         f"{len(body):,} bytes")
    return shape, dtype


def _npy_batch(body: bytes) -> Batch:
    _npy_header(body)
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as exc:
        raise InvalidNpy(f"body is not a .npy array ({exc})") from exc
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim not in (3, 4) \
            or array.shape[-1] != 3 or array.shape[-3] != array.shape[-2]:
        raise InvalidNpy("expected uint8 pixels shaped (N, S, S, 3) with S the model's input size, got "
                         f"{getattr(array, 'dtype', '?')} {getattr(array, 'shape', '?')}")
    single = array.ndim == 3
    if not single and not 0 < len(array) <= MAX_BATCH:
        raise PayloadTooLarge(f"batch of {len(array)} images; send 1 to {MAX_BATCH}")
    return Batch(single=single, pixels=array[None] if single else array)


def predict_fn(data: Batch, model: LoadedModel) -> Prediction:
    """Probabilities for a batch; from two chunks on, each chunk is decoded and passed forward on a core of
    its own (see :meth:`LoadedModel.logits_in_chunks`). Gives the batch's pixel reservation back."""
    try:
        if len(data) >= 2 * CHUNK:
            probabilities = model.calibrated(model.logits_in_chunks(data, CHUNK))
        else:
            probabilities = model.predict(data.inputs(model.input_size))
    finally:
        data.release()  # fitted to the input size: the full-size decoded images are no longer needed
    return Prediction(probabilities, data.single)


def output_fn(prediction: Prediction, accept: str = JSON_TYPE) -> tuple[bytes, str]:
    """Probabilities as JSON: a flat list for one image, a list of lists for a batch."""
    kind = media_type(accept)
    if kind not in ("", "*/*", JSON_TYPE):
        raise UnsupportedContentType(f"accept type {accept!r} is not supported; use {JSON_TYPE}")
    # tolist() gives each float32 as the double float() would, without a numpy scalar per probability
    rows = [[round(p, 6) for p in row] for row in prediction.probabilities.tolist()]
    return json.dumps(rows[0] if prediction.single else rows).encode(), JSON_TYPE


def handle(request_body: bytes | str, content_type: str, accept: str, model: LoadedModel) -> tuple[bytes, str]:
    """One request, whole: ``input_fn`` -> ``predict_fn`` -> ``output_fn``, except that a batch's images are
    decoded chunk by chunk, each with its forward pass, instead of all before it, and that one plain PNG of
    the model's input size is answered by :func:`_one_plain_png`. Raises :class:`InferenceError`."""
    answer = _one_plain_png(request_body, content_type, accept, model)
    if answer is not None:
        return answer
    return output_fn(predict_fn(read_request(request_body, content_type), model), accept)


def _one_plain_png(request_body: bytes | str, content_type: str, accept: str, model: LoadedModel) \
        -> tuple[bytes, str] | None:
    """The answer to a body that is one plain PNG (:class:`common.imaging.PlainPng`) of the model's input size,
    the same bytes the general path gives; None for anything else, which the general path answers or refuses.

    Why: that is what the endpoint is sent most (every image the ETL writes is one, and so is a CIFAR-sized
    photo the workflow sends), and the general path's batch around one image -- the request's reading, its
    :class:`Batch`, the chunking, the fitting -- cost 24-49 µs of 304-397 µs per request (in-process,
    alternated request by request with the general path). The image still takes its pixels from
    :data:`DECODE_BUDGET`.
    """
    if type(request_body) is not bytes or len(request_body) > MAX_PAYLOAD_BYTES \
            or media_type(content_type) not in IMAGE_TYPES or media_type(accept) not in ("", "*/*", JSON_TYPE):
        return None
    image = plain_png(request_body)
    size = model.input_size
    if image is None or image.size != (size, size):
        return None
    DECODE_BUDGET.acquire(size * size, "this request")
    try:
        image.decode()
        pixels = image.pixels
    except ImageError:
        return None  # the general path refuses it, naming the image
    finally:
        DECODE_BUDGET.release(size * size)
    return output_fn(Prediction(model.predict(normalize(pixels)[None]), single=True))


def transform_fn(model: LoadedModel, request_body, content_type: str, accept: str, context=None):
    """The whole request for the serving toolkit: the reply, or the error's status and JSON, never a traceback.

    ``context`` is TorchServe's request context (the toolkit passes it to a five-argument
    ``transform_fn``); the status goes there, and the body and content type are returned. A
    form-encoded body reaches here as no body at all (TorchServe parses the form), and is refused
    by its content type.
    """
    try:
        return handle(request_body if request_body is not None else b"", content_type, accept, model)
    except InferenceError as error:
        failure = error
    except Exception as exc:  # noqa: BLE001 - the container's log gets the details, the client one line
        import traceback

        traceback.print_exc()
        failure = InternalError(f"internal error: {type(exc).__name__}: {exc}")
    if context is not None:
        from http import HTTPStatus

        context.set_response_status(code=failure.status, phrase=HTTPStatus(failure.status).phrase)
    return failure.to_json(), JSON_TYPE


def predict_files(model: LoadedModel, paths: Sequence[Path], batch_size: int = 256) -> np.ndarray:
    """Probabilities for image files, batched: what evaluation and bulk scoring use."""
    out = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        pixels = np.stack([_decode_pixels(Path(p).read_bytes(), str(p), model.input_size) for p in chunk])
        out.append(model.predict(normalize(pixels)))
    return np.concatenate(out) if out else np.zeros((0, len(model.classes)), np.float32)
