"""`scones classify` on synthetic bicycles and motorcycles, through the local workflow and endpoint."""

import numpy as np
import pytest

from common.imaging import encode_png
from processing.synth import draw_image
from scones import cli


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(42)
    paths = {}
    for i, label in enumerate(["bicycle", "motorcycle"] * 3):
        path = tmp_path / f"{label}-{i}.png"
        path.write_bytes(encode_png(draw_image(label, rng)))
        paths[path] = label
    return paths


def test_classify_returns_the_labels(endpoint, pictures, capsys):
    code = cli.main(["classify", *map(str, pictures), "--threshold", "0.5"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("/")}
    correct = sum(lines[str(path)][1] == label for path, label in pictures.items())
    assert correct >= 5, out
    assert all(lines[str(path)][3] == "passed" for path in pictures)
    assert "6 passed, 0 sent to human review" in out


def test_a_high_threshold_sends_everything_to_review_and_exits_1(endpoint, pictures, capsys):
    # the calibrated tiny model is (rightly) ~100 % sure of synthetic pictures; soften it into an unsure one
    endpoint[0].deployment.model.temperature = 50.0
    code = cli.main(["classify", *map(str, pictures), "--threshold", "0.9"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("REVIEW  LowConfidenceError") == 6
    assert "0 passed, 6 sent to human review (6 SNS notifications)" in out
    from scones.notify import LocalOutbox
    from scones.settings import Settings

    reviews = [r for r in LocalOutbox(Settings.from_env().workspace.root / "outbox.jsonl").read()
               if r["kind"] == "human_review"]
    assert sorted(r["message"]["image"].rsplit("/", 1)[-1] for r in reviews) == sorted(p.name for p in pictures)
    assert all(r["message"]["error"] == "LowConfidenceError" for r in reviews)
    assert cli.main(["classify", str(next(iter(pictures))), "--threshold", "0.9", "--allow-review",
                     "--single"]) == 0


def test_without_an_endpoint_classify_says_how_to_start_one(workspace, pictures, capsys):
    assert cli.main(["classify", str(next(iter(pictures)))]) == 2
    assert "scones endpoint serve" in capsys.readouterr().err
