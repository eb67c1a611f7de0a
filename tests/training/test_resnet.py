"""The ResNet option: trains on random weights, starts from a weights file, can freeze its backbone."""

import json

import torch

from training import train
from training.network import ResNetSmall, build, load_initial_weights


def test_resnet_trains_a_step_and_exports(tiny_etl, tmp_path):
    result = train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model", epochs=1,
                         learning_rate=0.01, batch_size=32, architecture="resnet", log=lambda _: None)
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
    train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model", epochs=1, batch_size=32,
                architecture="resnet", log=lines.append, initial_weights=str(tmp_path / "weights.pt"),
                freeze_backbone=True)
    assert any("tensors loaded" in line and "backbone frozen" in line for line in lines)


def test_the_weights_channel_is_picked_up_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    torch.save({}, tmp_path / "weights" / "backbone.pt")
    monkeypatch.setenv("SM_CHANNEL_WEIGHTS", str(tmp_path / "weights"))
    assert train.build_parser().parse_args([]).initial_weights == str(tmp_path / "weights" / "backbone.pt")
