"""Reviewed images join the train split only, from a CIFAR-100 archive as from an image folder, and the
check and the evaluation say how many the model trained on."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from common.manifest import is_reviewed, read_lst
from processing import etl
from processing.check import run_check
from processing.evaluate import data_report
from tests import support


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(3).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def reviewed(tmp_path):
    """What `scones review export` stages: class folders of photos of any size, its manifest, a placeholder."""
    folder = tmp_path / "reviewed"
    for relative, data in {"bicycle/r-1.png": support.random_png(size=120, seed=5),
                           "motorcycle/r-2.jpg": _jpeg(300, 200),
                           "bicycle/r-4.png": support.truncated_png(seed=6),
                           "car/r-3.png": support.random_png(seed=7)}.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    (folder / "review-export.json").write_text("{}")
    (folder / "README.txt").write_text("placeholder")
    return folder


def _lines(root, split):
    return [(e.label, e.path) for e in read_lst(root / split / f"{split}.lst")]


def test_reviewed_images_join_the_train_split_of_a_cifar_archive_and_nothing_else(tiny_archive, reviewed,
                                                                                  tmp_path, capsys):
    plain, joined = tmp_path / "plain", tmp_path / "joined"
    etl.run_etl(str(tiny_archive), plain, ("bicycle", "motorcycle"), validation_fraction=0.25)
    manifest = etl.run_etl(str(tiny_archive), joined, ("bicycle", "motorcycle"), validation_fraction=0.25,
                           reviewed=reviewed)
    assert "3 reviewed images joined the train split" in capsys.readouterr().out
    for split in ("validation", "test"):
        assert _lines(joined, split) == _lines(plain, split), f"{split} must stay the source's own"
    added = _lines(joined, "train")[len(_lines(plain, "train")):]
    assert _lines(joined, "train")[:len(_lines(plain, "train"))] == _lines(plain, "train")
    assert sorted(added) == [(0, "bicycle/reviewed/r-1.png"), (0, "bicycle/reviewed/r-4.png"),
                             (1, "motorcycle/reviewed/r-2.png")]
    with Image.open(joined / "train" / "motorcycle/reviewed/r-2.png") as image:
        assert (image.format, image.size) == ("PNG", (32, 32)), "fitted to the archive's input size"
    assert manifest["reviewed"] == {"added": 3, "per_class": {"bicycle": 2, "motorcycle": 1},
                                    "skipped_unknown_class": {"car": 1}}
    written = json.loads((joined / "meta" / "manifest.json").read_text())
    assert written["reviewed"]["added"] == 3
    assert written["totals"]["train"] == len(_lines(joined, "train"))


def test_the_check_quarantines_a_damaged_reviewed_image_and_counts_the_rest(tiny_archive, reviewed, tmp_path):
    etl.run_etl(str(tiny_archive), tmp_path / "etl", ("bicycle", "motorcycle"), reviewed=reviewed)
    report = run_check({s: tmp_path / "etl" / s for s in ("train", "validation", "test")}, tmp_path / "clean",
                       tmp_path / "quarantine")
    assert report["splits"]["train"]["reviewed"] == 2 and report["splits"]["test"]["reviewed"] == 0
    assert [f["file"] for f in report["files"]] == ["train/bicycle/reviewed/r-4.png"]
    assert data_report(tmp_path / "quarantine")["reviewed_images"] == 2


def test_an_image_folder_takes_reviewed_images_the_same_way(reviewed, tmp_path):
    source = tmp_path / "photos"
    for label in ("bicycle", "motorcycle"):
        for n in range(10):
            (source / label).mkdir(parents=True, exist_ok=True)
            (source / label / f"{n}.png").write_bytes(support.random_png(size=64, seed=n + (label == "bicycle") * 50))
    manifest = etl.run_etl(str(source), tmp_path / "out", [], reviewed=reviewed)
    assert manifest["reviewed"]["added"] == 3
    train = [e.path for e in read_lst(tmp_path / "out" / "train" / "train.lst")]
    assert sum(map(is_reviewed, train)) == 3
    for split in ("validation", "test"):
        assert not any(is_reviewed(e.path) for e in read_lst(tmp_path / "out" / split / f"{split}.lst"))


def test_without_reviewed_images_the_dataset_is_the_sources_alone(tiny_archive, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("placeholder")
    manifest = etl.run_etl(str(tiny_archive), tmp_path / "out", ("bicycle", "motorcycle"), reviewed=empty)
    assert manifest["reviewed"]["added"] == 0
    assert not any(is_reviewed(e.path) for e in read_lst(tmp_path / "out" / "train" / "train.lst"))
