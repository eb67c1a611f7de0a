"""The live-accuracy rules: what grades a model, the interval, and the answers whose capture is gone."""

import pytest

from scones.review.output import GroundTruth
from scones.review.quality import model_quality, wilson


def _truth(label, model_label="bicycle", version=3, inference_id="i1"):
    return GroundTruth("r-x", inference_id, version, model_label, 0.8, label, "review", 1)


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
    entry = model_quality(truths, set(), {"3": 0.95})["3"]
    assert entry["accuracy"] == 0.2 and entry["below_evaluation"] is True and entry["without_capture"] == 10
