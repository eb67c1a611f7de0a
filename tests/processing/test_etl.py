import json

import numpy as np
import pytest
from PIL import Image

from common.manifest import read_classes, read_lst
from processing import etl
from tests.conftest import TINY_TEST_PER_CLASS, TINY_TRAIN_PER_CLASS


def test_etl_counts_per_split_and_class(tiny_etl):
    manifest = json.loads((tiny_etl / "meta" / "manifest.json").read_text())
    validation_per_class = round(TINY_TRAIN_PER_CLASS * 0.25)
    assert manifest["counts"] == {
        "train": {"bicycle": TINY_TRAIN_PER_CLASS - validation_per_class,
                  "motorcycle": TINY_TRAIN_PER_CLASS - validation_per_class},
        "validation": {"bicycle": validation_per_class, "motorcycle": validation_per_class},
        "test": {"bicycle": TINY_TEST_PER_CLASS, "motorcycle": TINY_TEST_PER_CLASS},
    }
    assert manifest["cifar_fine_labels"] == {"bicycle": 8, "motorcycle": 48}


def test_etl_lst_lines_point_at_32x32_rgb_pngs_with_cifar_names(tiny_etl, tiny_archive):
    from processing.cifar import read_archive

    original_names = set(read_archive(tiny_archive).test.filenames)
    lines = (tiny_etl / "test" / "test.lst").read_text().splitlines()
    assert len(lines) == 2 * TINY_TEST_PER_CLASS
    index, label, relative = lines[0].split("\t")
    assert index == "0" and label in {"0", "1"}
    entries = read_lst(tiny_etl / "test" / "test.lst")
    classes = read_classes(tiny_etl / "test")
    assert classes == ["bicycle", "motorcycle"]
    for entry in entries:
        folder, name = entry.path.split("/")
        assert folder == classes[entry.label]
        assert name in original_names
        with Image.open(tiny_etl / "test" / entry.path) as image:
            assert image.format == "PNG" and image.size == (32, 32) and image.mode == "RGB"
    assert {e.path.split("/")[1].rsplit("_s_", 1)[0] for e in entries} - {"bicycle"}, "real names vary"


def test_etl_pixels_equal_the_archive_pixels(tiny_etl, tiny_archive):
    from processing.cifar import read_archive

    archive = read_archive(tiny_archive)
    first = read_lst(tiny_etl / "test" / "test.lst")[0]
    name = first.path.split("/")[1]
    row = archive.test.filenames.index(name)
    written = np.asarray(Image.open(tiny_etl / "test" / first.path))
    assert np.array_equal(written, archive.test.images[row])


def test_validation_split_is_stratified_and_seeded():
    labels = np.array([0] * 50 + [1] * 30)
    mask = etl.split_validation(labels, 0.2, seed=3)
    assert mask[labels == 0].sum() == 10 and mask[labels == 1].sum() == 6
    assert np.array_equal(mask, etl.split_validation(labels, 0.2, seed=3))
    assert not np.array_equal(mask, etl.split_validation(labels, 0.2, seed=4))


def test_unknown_class_suggests_the_close_name(tiny_archive, tmp_path, capsys):
    code = etl.main(["--input", str(tiny_archive), "--output", str(tmp_path), "--classes", "bicycle", "motorcyle"])
    assert code == 1
    assert "did you mean motorcycle" in capsys.readouterr().err


def test_a_class_absent_from_the_archive_is_an_error(tiny_archive, tmp_path):
    with pytest.raises(etl.EtlError, match="no images of"):
        etl.run_etl(str(tiny_archive), tmp_path, ["apple"])


def test_classes_accept_comma_separated_form(tiny_archive, tmp_path):
    assert etl.main(["--input", str(tiny_archive), "--output", str(tmp_path), "--classes", "motorcycle,bicycle"]) == 0
    assert read_classes(tmp_path / "meta") == ["motorcycle", "bicycle"]
