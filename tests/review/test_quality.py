"""The live-accuracy rules: what grades a model, the interval, and the answers whose capture is gone."""

import pytest

from scones.review.output import GroundTruth
from scones.review.quality import model_quality, wilson


def _truth(label, model_label="bicycle", version=3, inference_id="i1", kind="review"):
    return GroundTruth("r-x", inference_id, version, model_label, 0.8, label, kind, 1)


def test_wilson_interval_matches_the_textbook_and_stays_in_range():
    low, high = wilson(81, 100)
    assert low == pytest.approx(0.7222, abs=1e-4) and high == pytest.approx(0.8749, abs=1e-4)
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0 and wilson(0, 0) == (0.0, 1.0)


def test_only_class_answers_on_model_answers_grade_and_missing_capture_is_counted():
    truths = [_truth("bicycle"), _truth("motorcycle", inference_id="gone"), _truth(None), _truth("none of these"),
              _truth("can't tell"), _truth("bicycle", model_label="")]
    [(version, entry)] = model_quality(truths, {"i1"}, {"3": 0.9}).items()
    assert version == "3"
    assert (entry["reviewed"], entry["correct"], entry["ungraded"], entry["without_capture"]) == (2, 1, 4, 1)
    assert entry["accuracy"] == 0.5 and entry["confusion"] == {"bicycle -> bicycle": 1, "motorcycle -> bicycle": 1}
    assert entry["below_evaluation"] is False, "1 of 2 (CI up to 0.905) does not show 0.9 is out of reach"


def test_a_version_whose_whole_interval_is_below_its_evaluation_is_flagged():
    truths = [_truth("motorcycle", inference_id=f"i{i}") for i in range(8)] + [_truth("bicycle")] * 2
    entry = model_quality(truths, set(), {"3": 0.95}, {"3": 1.0})["3"]
    assert entry["accuracy"] == 0.2 and entry["below_evaluation"] is True and entry["without_capture"] == 10
    partial = model_quality(truths, set(), {"3": 0.95}, {"3": 0.3})["3"]
    assert partial["below_evaluation"] is False and partial["population"].startswith("reviewed traffic only"), \
        "low-confidence images alone are harder than traffic: no alert without the audit samples"


def test_reviewed_and_audit_samples_are_weighted_by_their_share_of_traffic():
    review = [_truth("motorcycle", inference_id=f"r{i}") for i in range(5)] + [_truth("bicycle")] * 5  # 0.5
    sample = [_truth("bicycle", kind="sample")] * 19 + [_truth("motorcycle", kind="sample")]  # 0.95
    entry = model_quality(review + sample, set(), {"3": 0.99}, {"3": 0.1})["3"]
    assert entry["accuracy"] == pytest.approx(0.1 * 0.5 + 0.9 * 0.95)
    assert entry["by_population"]["review"]["accuracy"] == 0.5 and entry["by_population"]["sample"]["accuracy"] == 0.95
    assert entry["population"].startswith("all traffic") and entry["ci_low"] < entry["accuracy"] < entry["ci_high"]
    assert model_quality(review, set(), None, {"3": 0.1})["3"]["population"].startswith("reviewed traffic only")


def _dated(label, day, confidence=0.8, kind="review", model_label="bicycle"):
    return GroundTruth("r-x", "i", 3, model_label, confidence, label, kind, 1, f"2026-11-{day:02d}T10:00:00")


def test_live_accuracy_over_time_is_one_point_per_day_weighted_as_the_headline():
    truths = ([_dated("bicycle", 1)] * 3 + [_dated("motorcycle", 1)]  # day 1: reviewed only, 0.75
              + [_dated("bicycle", 2)] * 2 + [_dated("bicycle", 2, 0.97, "sample")] * 4)  # day 2: both populations
    rows = model_quality(truths, set(), None, {"3": 0.2})["3"]["over_time"]
    assert [(r["day"], r["reviewed"], r["population"]) for r in rows] == [
        ("2026-11-01", 4, "reviewed only"), ("2026-11-02", 6, "all traffic")]
    assert rows[0]["accuracy"] == 0.75 and rows[0]["ci_low"] < 0.75 < rows[0]["ci_high"]
    assert rows[1]["accuracy"] == pytest.approx(1.0)


def test_calibration_on_reviewed_traffic_says_whether_the_threshold_still_holds():
    holding = [_dated("bicycle", 1, 0.96, "sample")] * 30 + [_dated("bicycle", 1, 0.55)] * 3 \
        + [_dated("motorcycle", 1, 0.58)] * 2
    entry = model_quality(holding, set(), None, None, threshold=0.93)["3"]["calibration"]
    assert [(b["low"], b["count"], b["accuracy"]) for b in entry["bins"]] == [
        (0.5, 5, pytest.approx(0.6)), (0.9, 30, 1.0)]
    assert entry["at_threshold"]["answers"] == 30 and entry["at_threshold"]["holds"] is True
    failing = [_dated("bicycle", 1, 0.96, "sample")] * 15 + [_dated("motorcycle", 1, 0.96, "sample")] * 15
    at = model_quality(failing, set(), None, None, threshold=0.93)["3"]["calibration"]["at_threshold"]
    assert at["accuracy"] == 0.5 and at["holds"] is False, "0.93 no longer means 93 %"
    assert model_quality(holding[30:], set(), None, None, 0.93)["3"]["calibration"]["at_threshold"]["holds"] is None


def test_the_queueing_time_comes_from_a2is_output_path():
    from scones.review.output import started_at

    uri = "s3://b/scones/review/scones-review/2026/11/30/23/59/58/r-abc/output.json"
    assert started_at(uri) == "2026-11-30T23:59:58"
    assert started_at("s3://b/review/odd/place/output.json") == ""
