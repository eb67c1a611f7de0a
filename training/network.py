"""Networks the training step can build, chosen by the ``architecture`` hyperparameter."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Three conv blocks and a small head: ~60k parameters, sub-millisecond on a CPU."""

    HEAD_PREFIX = "head."

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(3, width), block(width, width * 2), block(width * 2, width * 4))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(width * 4, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetSmall(nn.Module):
    """A ResNet for small images: a stem and three stages of basic residual blocks (~0.7 M parameters).

    ``backbone`` holds everything but the classifier ``head``, so transfer learning
    can load a backbone trained elsewhere and freeze it.
    """

    HEAD_PREFIX = "head."

    def __init__(self, num_classes: int, widths: tuple[int, int, int] = (32, 64, 128)):
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]),
                             nn.ReLU(inplace=True))
        stages, cin = [], widths[0]
        for index, width in enumerate(widths):
            stages += [BasicBlock(cin, width, 1 if index == 0 else 2), BasicBlock(width, width, 1)]
            cin = width
        self.backbone = nn.Sequential(stem, *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _resnet18(num_classes: int) -> nn.Module:
    from training.imagenet import resnet18

    return resnet18(num_classes)


def _resnet50(num_classes: int) -> nn.Module:
    from training.imagenet import resnet50

    return resnet50(num_classes)


ARCHITECTURES = {"small_cnn": SmallCNN, "resnet": ResNetSmall, "resnet18": _resnet18, "resnet50": _resnet50}
#: Architectures that start from ImageNet weights by default (see training/imagenet.py).
IMAGENET_ARCHITECTURES = frozenset({"resnet18", "resnet50"})


def load_initial_weights(model: nn.Module, path: str, freeze_backbone: bool = False) -> dict[str, int]:
    """Load matching tensors from a state dict file (a different head is skipped); optionally freeze the rest.

    Returns how many tensors were loaded and skipped, for the training log.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    if freeze_backbone:
        head = getattr(model, "HEAD_PREFIX", "head.")
        for name, parameter in model.named_parameters():
            if not name.startswith(head):
                parameter.requires_grad = False
    return {"loaded": len(usable), "skipped": len(state) - len(usable)}


def build(architecture: str, num_classes: int) -> nn.Module:
    try:
        factory = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}") from None
    return factory(num_classes)
