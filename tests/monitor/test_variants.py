"""Versions compared on live traffic: a shadow joined to the live answers, graded where people answered; the
two-proportion test behind an A/B split's verdict."""

import datetime as dt

import pytest

from scones.monitor.capture_reader import CaptureScan, Prediction
from scones.monitor.variants import shadow_agreement, two_proportion
from scones.review.output import GroundTruth

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)


def _p(event, probabilities, version, inference=""):
    return Prediction(NOW, tuple(probabilities), version, inference, event)


def test_a_shadow_is_joined_request_by_request_and_graded_where_a_reviewer_answered():
    live = CaptureScan([_p("e1", (0.9, 0.1), "1", "i1"), _p("e2", (0.8, 0.2), "1", "i2"),
                        _p("e3", (0.3, 0.7), "1", "i3"), _p("e4", (0.6, 0.4), "1")])
    shadow = CaptureScan([_p("e1", (0.95, 0.05), "2", "i1"), _p("e2", (0.1, 0.9), "2", "i2"),
                          _p("e3", (0.2, 0.8), "2", "i3"), _p("e9", (0.5, 0.5), "2")], corrupt=1)
    answers = [GroundTruth("a", "i2", 1, "bicycle", 0.8, "motorcycle", "review", 1),  # the shadow was right
               GroundTruth("b", "i3", 1, "motorcycle", 0.7, "motorcycle", "review", 1),  # both right
               GroundTruth("c", "i1", 1, "bicycle", 0.9, "can't tell", "review", 1)]  # grades nothing
    result = shadow_agreement(live, shadow, ["bicycle", "motorcycle"], answers)
    assert result["compared"] == 3, "e4 had no shadow answer, e9 no live one"
    assert result["agreement"] == pytest.approx(2 / 3) and result["disagreed"] == 1
    assert result["confidence_change"] == pytest.approx((0.05 + 0.1 + 0.1) / 3)
    assert result["disagreements"] == [{"event_id": "e2", "time": "2026-12-03 00:00:00", "live": "bicycle",
                                        "live_confidence": 0.8, "shadow": "motorcycle", "shadow_confidence": 0.9}]
    graded = result["graded"]
    assert (graded["reviewed"], graded["live_correct"], graded["shadow_correct"]) == (2, 1, 2)
    assert result["shadow_failed"] == 1


def test_the_two_proportion_test_says_not_yet_until_the_difference_is_unlikely_to_be_chance():
    assert two_proportion(9, 10, 8, 10)["real"] is False
    strong = two_proportion(950, 1000, 900, 1000)
    assert strong["real"] and strong["p"] < 1e-4 and "difference of 5.0%" in strong["verdict"]
    assert two_proportion(300, 400, 150, 200)["p"] == pytest.approx(1.0)
    assert two_proportion(5, 5, 0, 0)["verdict"].startswith("not yet: a variant has no reviewed answers")
    # the textbook case: 0.54 vs 0.46 on 500 each, z = 2.53, p = 0.011
    textbook = two_proportion(270, 500, 230, 500)
    assert textbook["z"] == pytest.approx(2.530, abs=1e-3) and textbook["p"] == pytest.approx(0.0114, abs=1e-3)
