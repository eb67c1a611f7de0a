import base64
import json
import re

import numpy as np
import pytest

from scones.artifacts import unpack_model
from tests import support
from training import inference


@pytest.fixture(scope="module")
def model(trained_model, tmp_path_factory):
    return inference.model_fn(str(unpack_model(trained_model, tmp_path_factory.mktemp("serve"))))


def _invoke(model, body, content_type="image/png"):
    return json.loads(inference.output_fn(inference.predict_fn(inference.input_fn(body, content_type), model))[0])


def test_single_image_returns_probabilities_in_class_order(model):
    probabilities = _invoke(model, support.random_png())
    assert len(probabilities) == len(model.classes) == 2
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)


def test_json_batch_returns_one_list_per_image(model):
    images = [support.random_png(seed=i) for i in range(3)]
    body = json.dumps({"instances": [base64.b64encode(i).decode() for i in images]})
    batch = _invoke(model, body, "application/json")
    assert len(batch) == 3
    for image, row in zip(images, batch):
        assert row == pytest.approx(_invoke(model, image), abs=1e-6)


def test_jpeg_of_any_size_is_accepted(model):
    assert len(_invoke(model, support.jpeg_bytes((300, 200)), "image/jpeg")) == 2


@pytest.mark.parametrize("body, content_type, error, status", [
    (b"abc", "text/csv", inference.UnsupportedContentType, 415),
    (b"not an image", "image/png", inference.InvalidImage, 400),
    (support.truncated_png(), "application/x-image", inference.InvalidImage, 400),
    (support.bomb_png(20000, 20000), "image/png", inference.InvalidImage, 400),
    (b"\0" * (6 * 1024 * 1024 + 1), "image/png", inference.PayloadTooLarge, 413),
    (b"{not json", "application/json", inference.InvalidJson, 400),
    (b'{"instances": "x"}', "application/json", inference.InvalidJson, 400),
    (b'{"instances": ["***"]}', "application/json", inference.InvalidJson, 400),
    (b'{"instances": []}', "application/json", inference.InvalidJson, 400),
])
def test_bad_requests_get_a_4xx_error_with_a_message(body, content_type, error, status):
    with pytest.raises(error) as caught:
        inference.input_fn(body, content_type)
    assert caught.value.status == status
    assert json.loads(caught.value.to_json())["message"]


def test_predict_files_matches_single_requests(model, tmp_path):
    paths = [support.write(tmp_path / f"{i}.png", support.random_png(seed=i)) for i in range(2)]
    batch = inference.predict_files(model, paths)
    np.testing.assert_allclose(batch[1], _invoke(model, paths[1].read_bytes()), atol=1e-6)


def test_npy_pixels_give_the_same_probabilities_as_the_png(model):
    import io

    from common.imaging import to_pixels

    images = [support.random_png(seed=i) for i in range(3)]
    buffer = io.BytesIO()
    np.save(buffer, np.stack([to_pixels(i) for i in images]))
    batch = _invoke(model, buffer.getvalue(), "application/x-npy")
    for image, row in zip(images, batch):
        assert row == pytest.approx(_invoke(model, image), abs=1e-6)


@pytest.mark.parametrize("array", [np.zeros((2, 32, 32, 3), np.float32), np.zeros((2, 16, 16, 3), np.uint8),
                                   np.zeros((0, 32, 32, 3), np.uint8)])
def test_npy_with_the_wrong_dtype_or_shape_is_refused(array, model):
    """16x16 pixels are refused by a 32 px model (model_info.json input_size), as a 400."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    with pytest.raises(inference.InferenceError) as caught:
        inference.predict_fn(inference.input_fn(buffer.getvalue(), "application/x-npy"), model)
    assert caught.value.status in (400, 413)


def test_npy_that_needs_pickle_is_refused():
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(inference.InvalidNpy, match="not a .npy array"):
        inference.input_fn(buffer.getvalue(), "application/x-npy")


def test_pixel_budget_makes_concurrent_decodes_wait_then_refuses_with_503():
    import threading

    budget = inference.PixelBudget(100, wait_seconds=0.2)
    budget.acquire(80, "a")
    with pytest.raises(inference.ServerBusy) as caught:
        budget.acquire(30, "b")
    assert caught.value.status == 503
    done = threading.Event()
    threading.Thread(target=lambda: (budget.acquire(30, "c"), done.set()), daemon=True).start()
    budget.release(80)
    assert done.wait(2), "a waiting decode proceeds once pixels are released"
    assert budget.used == 30


def test_every_request_gives_its_decoded_pixels_back(model):
    """Good, bad and half-bad batches all leave the process budget where it was."""
    before = inference.DECODE_BUDGET.used
    _invoke(model, support.random_png())
    images = [base64.b64encode(support.random_png(seed=1)).decode(), base64.b64encode(support.truncated_png()).decode()]
    with pytest.raises(inference.InvalidImage):
        inference.input_fn(json.dumps({"instances": images}), "application/json")
    batch = inference.input_fn(support.jpeg_bytes((300, 200)), "image/jpeg")
    assert inference.DECODE_BUDGET.used == before + 300 * 200, "held while the batch waits for the model"
    inference.predict_fn(batch, model)
    assert inference.DECODE_BUDGET.used == before


def test_a_request_larger_than_the_whole_budget_is_refused_at_once_with_its_number():
    """Issue 29: 13 images of 2000x2000 (52 M pixels) once waited 10 s for room that could never exist."""
    import time

    images = [base64.b64encode(support.bomb_png(2000, 2000)).decode() for _ in range(13)]
    started = time.monotonic()
    with pytest.raises(inference.PayloadTooLarge) as caught:
        inference.input_fn(json.dumps({"instances": images}), "application/json")
    assert time.monotonic() - started < 2.0 and caught.value.status == 413
    assert "13 images hold 52,000,000 pixels; at most 48,000,000" in caught.value.message
    assert inference.DECODE_BUDGET.used == 0, "nothing was reserved"



def _mixed_batch(count: int) -> list[bytes]:
    """Plain PNGs (the fast path), other PNGs and JPEGs of other sizes (Pillow, then fitted)."""
    return [support.random_png(seed=i) if i % 3 else
            support.jpeg_bytes((40 + i, 33), seed=i) if i % 2 else support.random_png(seed=i, mode="P")
            for i in range(count)]


def test_a_batch_of_several_chunks_answers_as_one_forward_pass_would(model):
    """handle() decodes chunk by chunk beside the forward passes; the answers are those of one pass over all."""
    images = _mixed_batch(2 * inference.CHUNK + 7)
    body = json.dumps({"instances": [base64.b64encode(i).decode() for i in images]})
    answered = np.array(json.loads(inference.handle(body, "application/json", "application/json", model)[0]))
    whole = model.predict(np.stack([inference.normalize(inference.to_pixels(i)) for i in images]))
    assert answered.shape == (len(images), 2) and np.allclose(answered, whole, atol=1e-6)
    npy = np.stack([inference.to_pixels(i) for i in images])
    import io

    buffer = io.BytesIO()
    np.save(buffer, npy)
    answered_npy = json.loads(inference.handle(buffer.getvalue(), "application/x-npy", "application/json", model)[0])
    assert np.allclose(answered_npy, whole, atol=1e-6)


def test_a_truncated_image_late_in_a_large_batch_is_named_and_its_pixels_given_back(model):
    before = inference.DECODE_BUDGET.used
    images = _mixed_batch(3 * inference.CHUNK)
    images[2 * inference.CHUNK + 5] = support.truncated_png()
    body = json.dumps({"instances": [base64.b64encode(i).decode() for i in images]})
    with pytest.raises(inference.InvalidImage, match=rf"instances\[{2 * inference.CHUNK + 5}\]: .*truncated"):
        inference.handle(body, "application/json", "application/json", model)
    assert inference.DECODE_BUDGET.used == before


def _batch_body(images: list[bytes]) -> str:
    return json.dumps({"instances": [base64.b64encode(i).decode() for i in images]})


def test_a_batchs_chunks_are_decoded_on_the_pool_one_per_core_not_on_the_callers_thread(model, monkeypatch):
    import threading

    threads, fit = set(), inference.fitted_pixels
    monkeypatch.setattr(inference, "fitted_pixels",
                        lambda image, size: (threads.add(threading.current_thread().name), fit(image, size))[1])
    inference.handle(_batch_body(_mixed_batch(4 * inference.CHUNK)), "application/json", "application/json", model)
    assert threads and all(name.startswith("forward") for name in threads), threads


def test_of_two_bad_images_in_a_batch_the_first_in_order_is_named(model, monkeypatch):
    import time

    chunk = inference.Batch.chunk
    monkeypatch.setattr(inference.Batch, "chunk", lambda batch, start, size, count: (
        time.sleep(0.3 if start == 0 else 0), chunk(batch, start, size, count))[1])  # the second chunk fails first
    images = _mixed_batch(3 * inference.CHUNK)
    images[inference.CHUNK - 1] = support.truncated_png()
    images[inference.CHUNK] = support.truncated_png()
    with pytest.raises(inference.InvalidImage, match=rf"instances\[{inference.CHUNK - 1}\]: "):
        inference.handle(_batch_body(images), "application/json", "application/json", model)


def test_after_a_bad_image_no_chunk_is_still_decoding_once_the_budget_is_given_back(model, monkeypatch):
    """A chunk already decoding when another fails cannot be cancelled: the error waits for it, so the pixels
    given back to the budget are no longer being written."""
    import time

    if inference._FORWARDS._max_workers < 2:
        pytest.skip("one core: the second chunk never starts while the first is decoded")
    before, fit, finished = inference.DECODE_BUDGET.used, inference.fitted_pixels, []

    def slow_fit(image, size):
        if image.size == (40, 33):  # the second chunk's JPEG, reached while the first chunk fails
            time.sleep(0.3)
            finished.append(time.monotonic())
        return fit(image, size)

    images = _mixed_batch(2 * inference.CHUNK)
    images[0] = support.truncated_png()
    images[inference.CHUNK + 1] = support.jpeg_bytes((40, 33), seed=1)
    monkeypatch.setattr(inference, "fitted_pixels", slow_fit)
    with pytest.raises(inference.InvalidImage, match=r"instances\[0\]: "):
        inference.handle(_batch_body(images), "application/json", "application/json", model)
    raised = time.monotonic()
    time.sleep(0.5)
    assert len(finished) == 1 and finished[0] <= raised, "the slow chunk ended before the error was raised"
    assert inference.DECODE_BUDGET.used == before


def _general_path(body: bytes, model) -> bytes:
    return inference.output_fn(inference.predict_fn(inference.read_request(body, "image/png"), model))[0]


def _corrupt_idat(png: bytes) -> bytes:
    """The PNG with bytes inside its compressed pixels flipped: every chunk whole, the pixels undecodable."""
    start = png.index(b"IDAT") + 4
    return png[:start + 2] + bytes(b ^ 0xFF for b in png[start + 2:start + 40]) + png[start + 40:]


def test_one_plain_png_at_the_input_size_is_answered_as_the_general_path_answers_it(model):
    bodies = [support.random_png(seed=seed) for seed in range(6)] + [support.constant_png(0), support.constant_png(255)]
    for body in bodies:
        answer = inference._one_plain_png(body, "image/png", "application/json", model)
        assert answer is not None, "a plain 32x32 RGB PNG takes the short path"
        assert answer == (_general_path(body, model), "application/json")
        assert inference.handle(body, "image/png", "application/json", model) == answer


@pytest.mark.parametrize("body, content_type, accept", [
    (support.random_png(mode="P"), "image/png", "application/json"),  # a palette: not plain
    (support.random_png(size=48), "image/png", "application/json"),  # not the model's input size
    (support.jpeg_bytes((32, 32)), "image/jpeg", "application/json"),
    (support.random_png().decode("latin-1"), "image/png", "application/json"),  # text, not bytes
    (support.random_png(), "text/csv", "application/json"),
    (support.random_png(), "image/png", "text/csv"),
    (_corrupt_idat(support.random_png()), "image/png", "application/json"),
])
def test_what_the_plain_png_path_does_not_take_the_general_path_answers_or_refuses(model, body, content_type, accept):
    assert inference._one_plain_png(body, content_type, accept, model) is None
    try:
        expected = inference.output_fn(inference.predict_fn(inference.read_request(body, content_type), model), accept)
    except inference.InferenceError as error:
        with pytest.raises(type(error), match=re.escape(error.message)):
            inference.handle(body, content_type, accept, model)
    else:
        assert inference.handle(body, content_type, accept, model) == expected


def test_a_corrupt_plain_png_is_refused_naming_the_body(model):
    with pytest.raises(inference.InvalidImage, match="^body: "):
        inference.handle(_corrupt_idat(support.random_png()), "image/png", "application/json", model)


def test_the_plain_png_path_takes_its_pixels_from_the_budget_and_gives_them_back(model, monkeypatch):
    budget = inference.PixelBudget(32 * 32 - 1, wait_seconds=0.05)  # one pixel short of one image
    monkeypatch.setattr(inference, "DECODE_BUDGET", budget)
    with pytest.raises(inference.ServerBusy):
        inference._one_plain_png(support.random_png(), "image/png", "application/json", model)
    monkeypatch.setattr(inference, "DECODE_BUDGET", inference.PixelBudget(32 * 32, wait_seconds=0.05))
    assert inference._one_plain_png(support.random_png(), "image/png", "application/json", model) is not None
    assert inference.DECODE_BUDGET.used == 0
