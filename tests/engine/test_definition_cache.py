"""The rendered-definition cache is keyed by everything the rendering depends on."""

import shutil

from common.packaging import PROJECT_PACKAGES


def test_a_change_to_any_packaged_module_renders_again(tmp_path, monkeypatch):
    """The step code the definition names (by content digest) bundles scones/ modules into the monitor's zipapp:
    a change there must not reuse a definition that points at the old code prefix."""
    from pipelines import step_code
    from scones.engine import local_run

    for package in PROJECT_PACKAGES:
        shutil.copytree(step_code.ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(step_code, "ROOT", tmp_path)
    before = local_run._definition_key("pipelines.cifar.pipeline", {})
    assert local_run._definition_key("pipelines.cifar.pipeline", {}) == before
    job = tmp_path / "scones" / "monitor" / "job.py"
    job.write_text(job.read_text() + "\n# a change\n")
    assert local_run._definition_key("pipelines.cifar.pipeline", {}) != before
