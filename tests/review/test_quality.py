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
