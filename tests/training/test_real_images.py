"""The default recipe on real scanned digits (scikit-learn's, shipped in its wheel): it learns and is calibrated.

bench/learning.py reports the figures; this guards them against a recipe change that only the
synthetic set would not notice (any recipe gets 1.0 there). Bounds sit below the bench's figures.
"""


def test_default_recipe_on_real_scanned_digits(tmp_path):
    from bench.learning import run_one
    from bench.real_images import digits_archive

    archive = digits_archive(tmp_path / "cifar-100-python.tar.gz", digits=(3, 8))
    result = run_one(archive, ("three", "eight"), tmp_path / "run")
    assert result["train"] > 200 and result["test"] > 60
    assert result["accuracy"] >= 0.97
    assert result["ece"] <= 0.05
    assert result["coverage"] >= 0.8 and result["accuracy_at"] >= 0.98
    assert result["stop"].startswith(("early stop", "step budget", "epoch cap"))
