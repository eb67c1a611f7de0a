"""The ResNet option: trains on random weights, starts from a weights file, can freeze its backbone."""

import json

import pytest
import torch

from training import train
from training.network import ResNetSmall, build, load_initial_weights
from training.recipe import Recipe


def test_resnet_trains_a_step_and_exports(tiny_etl, tmp_path):
    result = train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model", architecture="resnet",
                         log=lambda _: None, recipe=Recipe(epochs=1, learning_rate=0.01, batch_size=32))
    assert len(result["history"]) == 1
    info = json.loads((tmp_path / "model" / "model_info.json").read_text())
    assert info["architecture"] == "resnet" and (tmp_path / "model" / "model.onnx").exists()


def test_initial_weights_load_into_the_backbone_and_skip_a_different_head(tmp_path):
    source = ResNetSmall(num_classes=10)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    target = build("resnet", 2)
    counts = load_initial_weights(target, str(tmp_path / "weights.pt"), freeze_backbone=True)
    assert counts["skipped"] == 2, "the 10-class head's weight and bias"
    assert torch.equal(target.backbone[0][0].weight, source.backbone[0][0].weight)
    assert all(not p.requires_grad for n, p in target.named_parameters() if not n.startswith("head."))
    assert all(p.requires_grad for p in target.head.parameters())


def test_training_from_a_weights_file_with_a_frozen_backbone(tiny_etl, tmp_path):
    torch.save(ResNetSmall(num_classes=5).state_dict(), tmp_path / "weights.pt")
    lines = []
    train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model",
                architecture="resnet", log=lines.append, initial_weights=str(tmp_path / "weights.pt"),
                freeze_backbone=True, recipe=Recipe(epochs=1, batch_size=32))
    assert any("tensors loaded" in line and "backbone frozen" in line for line in lines)


def test_the_weights_channel_is_picked_up_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    torch.save({}, tmp_path / "weights" / "backbone.pt")
    monkeypatch.setenv("SM_CHANNEL_WEIGHTS", str(tmp_path / "weights"))
    assert train.build_parser().parse_args([]).initial_weights == str(tmp_path / "weights" / "backbone.pt")


# ImageNet ResNets (torchvision layout) and where their weights come from -------------------------------

def _torchvision_file(cache_dir, architecture="resnet18"):
    """Random weights saved under torchvision's file name, as a stand-in for the ImageNet download."""
    from training.imagenet import WEIGHT_FILES

    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / WEIGHT_FILES[architecture][0]
    torch.save(build(architecture, 1000).state_dict(), path)
    return path


def test_imagenet_resnets_have_torchvisions_layout():
    """Parameter counts and key names of torchvision's resnet18/resnet50, so its weight files load unchanged."""
    r18, r50 = build("resnet18", 1000), build("resnet50", 1000)
    assert sum(p.numel() for p in r18.parameters()) == 11_689_512
    assert sum(p.numel() for p in r50.parameters()) == 25_557_032
    keys = set(r18.state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer2.0.downsample.0.weight", "layer4.1.bn2.num_batches_tracked",
            "fc.weight", "fc.bias"} <= keys and len(keys) == 122
    assert "layer1.0.conv3.weight" in r50.state_dict()


def test_imagenet_resnets_see_their_inputs_normalized_the_way_imagenet_weights_expect():
    """The project normalizes with its own mean/std; the network's first conv must see torchvision's."""
    import numpy as np
    import torch

    from common.imaging import normalize
    from training.imagenet import IMAGENET_MEAN, IMAGENET_STD

    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    seen = []
    model = build("resnet18", 2).eval()
    model.conv1.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    with torch.no_grad():
        model(torch.from_numpy(normalize(pixels)))
    expected = (pixels / 255.0 - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
    np.testing.assert_allclose(seen[0].numpy(), np.moveaxis(expected, -1, 1), atol=1e-5)
    assert not any(key.startswith("input_") for key in model.state_dict()), "torchvision's files load unchanged"


def test_resnet18_weights_from_torchvisions_cache(tiny_etl, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = _torchvision_file(tmp_path / "torch" / "hub" / "checkpoints")
    lines = []
    train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model",
                architecture="resnet18", log=lines.append, freeze_backbone=True, recipe=Recipe(epochs=1, batch_size=32))
    loaded = next(line for line in lines if "tensors loaded" in line)
    assert str(cached) in loaded and "120 tensors loaded, 2 skipped" in loaded and "backbone frozen" in loaded
    assert no_network == [], "a cached file means no download"


def test_resnet18_weights_from_an_explicit_file(tmp_path, monkeypatch):
    from training.imagenet import locate_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    path = _torchvision_file(tmp_path / "mine")
    assert locate_weights("resnet18", str(path)) == path
    model = build("resnet18", 3)
    counts = load_initial_weights(model, str(path), freeze_backbone=True)
    assert counts == {"loaded": 120, "skipped": 2}
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]


def test_resnet50_weights_missing_is_a_clear_error(tiny_etl, tmp_path, monkeypatch, no_network):
    from training.imagenet import WeightsUnavailable

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(WeightsUnavailable) as caught:
        train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model",
                    architecture="resnet50", log=lambda _: None, recipe=Recipe(epochs=1))
    message = str(caught.value)
    assert "resnet50-11ad3fa6.pth" in message and str(tmp_path / "empty" / "hub" / "checkpoints") in message
    assert "--initial-weights" in message and "download failed" in message
    assert not (tmp_path / "model").exists()


def test_train_script_reports_missing_weights_without_a_traceback(tiny_etl, tmp_path, monkeypatch, capsys,
                                                                   no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    code = train.main(["--train", str(tiny_etl / "train"), "--validation", str(tiny_etl / "validation"),
                       "--model-dir", str(tmp_path / "model"), "--output-data-dir", str(tmp_path / "out"),
                       "--architecture", "resnet18"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("train failed: ImageNet weights for resnet18") and "Traceback" not in err
