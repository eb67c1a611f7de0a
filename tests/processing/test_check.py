import json

import pytest

from common.manifest import read_lst, write_lst
from processing import check
from tests import support

BAD_FILES = {
    "truncated": support.truncated_png,
    "not_an_image": lambda: b"this is a text file, not a picture",
    "wrong_size": lambda: support.random_png(size=48),
    "constant_image": support.constant_png,
    "decompression_bomb": lambda: support.bomb_png(20000, 20000),
}


def _inject(etl_root, split="train"):
    """Overwrite one listed file per kind of damage; returns {relative path: expected reason}."""
    entries = read_lst(etl_root / split / f"{split}.lst")
    expected = {}
    for entry, (reason, make) in zip(entries, BAD_FILES.items()):
        (etl_root / split / entry.path).write_bytes(make())
        expected[f"{split}/{entry.path}"] = reason
    return expected


def test_every_bad_file_is_quarantined_with_one_report_line(etl_copy, tmp_path):
    expected = _inject(etl_copy)
    support.write(etl_copy / "train" / "bicycle" / "stray.png", support.random_png(seed=9))
    expected["train/bicycle/stray.png"] = "unlisted"
    report = check.run_check({s: etl_copy / s for s in ("train", "validation", "test")},
                             tmp_path / "clean", tmp_path / "quarantine", max_bad_fraction=0.5)
    assert {item["file"]: item["reason"] for item in report["files"]} == expected
    on_disk = json.loads((tmp_path / "quarantine" / "report.json").read_text())
    assert on_disk["bad"] == len(expected) and len(on_disk["files"]) == len(expected)
    for relative in expected:
        assert (tmp_path / "quarantine" / relative).read_bytes() == (etl_copy / relative).read_bytes()
    clean_paths = {e.path for e in read_lst(tmp_path / "clean" / "train" / "train.lst")}
    assert not {r.split("/", 1)[1] for r in expected} & clean_paths
    assert len(clean_paths) == len(read_lst(etl_copy / "train" / "train.lst")) - len(BAD_FILES)
    assert [e.index for e in read_lst(tmp_path / "clean" / "train" / "train.lst")] == list(range(len(clean_paths)))


def test_unknown_label_and_missing_file_are_reported(etl_copy, tmp_path):
    lst = etl_copy / "test" / "test.lst"
    entries = read_lst(lst)
    entries[0] = type(entries[0])(entries[0].index, 7, entries[0].path)
    (etl_copy / "test" / entries[1].path).unlink()
    write_lst(lst, entries)
    report = check.run_check({"test": etl_copy / "test"}, tmp_path / "c", tmp_path / "q", max_bad_fraction=0.5)
    reasons = {item["file"]: item["reason"] for item in report["files"]}
    assert reasons == {f"test/{entries[0].path}": "unknown_label", f"test/{entries[1].path}": "missing_file"}


def test_threshold_breach_fails_with_exit_1_and_a_clear_message(etl_copy, tmp_path, capsys):
    _inject(etl_copy)
    code = check.main(["--input", str(etl_copy), "--output", str(tmp_path / "out"), "--max-bad-fraction", "0.01"])
    err = capsys.readouterr().err
    assert code == 1
    assert "5 of" in err and "more than the allowed 1.00%" in err and "report.json" in err
    assert json.loads((tmp_path / "out" / "quarantine" / "report.json").read_text())["passed"] is False


def test_clean_dataset_passes(etl_copy, tmp_path):
    assert check.main(["--input", str(etl_copy), "--output", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "quarantine" / "report.json").read_text())
    assert report["bad"] == 0 and report["passed"] and report["examined"] == 160


def test_a_malformed_manifest_fails_clearly(etl_copy, tmp_path, capsys):
    (etl_copy / "train" / "train.lst").write_text("0\t1\n")
    assert check.main(["--input", str(etl_copy), "--output", str(tmp_path / "o")]) == 1
    assert "expected 3 tab-separated fields" in capsys.readouterr().err


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd"])
def test_manifest_paths_cannot_escape_the_folder(etl_copy, tmp_path, capsys, path):
    (etl_copy / "train" / "train.lst").write_text(f"0\t0\t{path}\n")
    assert check.main(["--input", str(etl_copy), "--output", str(tmp_path / "o")]) == 1
    assert "unsafe path" in capsys.readouterr().err
