"""ImageSize end to end: a folder of 96+ px photos trains at 96 px, serves at 96 px and classifies.

The size is decided once by the ETL (``dataset.json``), read by the check and training, carried
to serving by ``model_info.json``; nothing on the way assumes 32.
"""

import json
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw


def _photo(kind: str, rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(150, 256, 3)))
    draw = ImageDraw.Draw(image)
    w, h = size
    x, y, r = int(rng.integers(w // 3, 2 * w // 3)), int(rng.integers(h // 3, 2 * h // 3)), int(rng.integers(20, 35))
    colour = tuple(int(v) for v in rng.integers(0, 120, 3))
    if kind == "disc":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    else:
        draw.rectangle((x - r, y - r, x + r, y + r), fill=colour)
    return image


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    for kind in ("disc", "square"):
        (root / kind).mkdir()
        for i in range(40):
            size = (int(rng.integers(100, 160)), int(rng.integers(100, 130)))
            _photo(kind, rng, size).save(root / kind / f"{kind}_{i}.{'jpg' if i % 2 else 'png'}")
    return root


def test_image_size_96_trains_serves_and_classifies(big_folder, workspace, tmp_path):
    from scones.engine.local_run import run_local_pipeline
    from scones.engine.progress import QuietReporter
    from scones.serving.client import runtime_client
    from scones.serving.run import build_server
    from scones.workflow.classify import classify_images

    record = run_local_pipeline(workspace.store(), workspace.registry(), workspace.workspace.runs, tmp_path / "s",
                                parameters={"Epochs": 4, "AccuracyThreshold": 0.0}, input_path=big_folder,
                                reporter=QuietReporter())
    assert record.status == "Succeeded", record.failure_reason
    check = next(s for s in record.steps if s.name == "CheckImages")
    assert check.summary == "0 of 80 files quarantined"
    version = workspace.registry().list_versions(workspace.model_group)[-1]
    assert version.metrics["evaluation"]["input_size"] == 96, "auto: the largest size under the median short side"
    assert "expected_calibration_error" in version.metrics["calibration"], "calibration goes to the registry"
    workspace.registry().approve(workspace.model_group, version.version, "test")

    server, watcher = build_server(workspace, "scones-endpoint", port=0, log=lambda line: None)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        assert server.deployment.model.input_size == 96
        rng = np.random.default_rng(11)
        import io

        photo = io.BytesIO()
        _photo("disc", rng, (300, 220)).save(photo, format="JPEG")
        client = runtime_client(server.url)
        reply = json.loads(client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/jpeg",
                                                  Body=photo.getvalue())["Body"].read())
        assert len(reply) == 2 and sum(reply) == pytest.approx(1.0, abs=1e-4)
        pixels = io.BytesIO()
        np.save(pixels, np.zeros((1, 32, 32, 3), np.uint8))
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError) as refused:
            client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="application/x-npy",
                                   Body=pixels.getvalue())
        assert refused.value.response["Error"]["Code"] == "ModelError"
        assert json.loads(refused.value.response["OriginalMessage"])["error"] == "invalid_npy"
        assert "this model takes 96x96" in str(refused.value)
        report = classify_images([("disc.jpg", photo.getvalue())], server.url, "scones-endpoint",
                                 server.deployment.model.classes, threshold=0.0,
                                 cache_dir=tmp_path / "workflows")
        assert report.results[0].label in ("disc", "square") and report.results[0].status == "passed"
    finally:
        watcher.stop()
        server.shutdown()
        server.server_close()
        server.capture.close()


def test_corrupt_files_get_one_reason_whatever_their_size_or_format(tmp_path):
    """A truncated 40x56 PNG, a truncated JPEG and a truncated 32x32 PNG are all 'truncated'."""
    import io as bytes_io

    from processing.check import run_check
    from processing.etl import run_etl

    rng = np.random.default_rng(0)
    root = tmp_path / "folder"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(root / c / f"{i}.png")

    def cut(shape, fmt):
        buffer = bytes_io.BytesIO()
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(buffer, format=fmt)
        return buffer.getvalue()[: len(buffer.getvalue()) // 2]

    (root / "a" / "t1.png").write_bytes(cut((56, 40, 3), "PNG"))
    (root / "a" / "t2.jpg").write_bytes(cut((56, 40, 3), "JPEG"))
    (root / "b" / "t3.png").write_bytes(cut((32, 32, 3), "PNG"))
    (root / "b" / "t4.jpg").write_bytes(b"hello, not an image")
    run_etl(str(root), tmp_path / "etl", [], 0.2, 0)
    report = run_check({s: tmp_path / "etl" / s for s in ("train", "validation", "test")}, tmp_path / "clean",
                       tmp_path / "q", 0.5)
    reasons = {f["file"].rsplit("/", 1)[-1]: f["reason"] for f in report["files"]}
    assert reasons == {"t1.png": "truncated", "t2.jpg": "truncated", "t3.png": "truncated",
                       "t4.jpg": "not_an_image"}
