"""ResNet-18 and ResNet-50 whose state dicts are torchvision's, and where their ImageNet weights come from.

The dog-breed and waste-sorting use cases fine-tune ImageNet ResNets. The
networks are written here with torchvision's exact module names (``conv1``,
``layer1.0.downsample.0``, ``fc``...), so torchvision's weight files load
unchanged, without importing torchvision: PyPI's torchvision wheels do not
import beside the CPU build of torch this project pins ("operator
torchvision::nms does not exist"), and SageMaker's containers need none.

Weights are looked for, in order: an explicit file (``--initial-weights`` or the
``weights`` channel), torchvision's cache (``$TORCH_HOME/hub/checkpoints``), then
a download from torchvision's address when the job has a network (SageMaker).
When none works, :class:`WeightsUnavailable` names the file to provide.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from common.imaging import MEAN, STD

#: torchvision's published ImageNet weight files, newest first, and where they are served.
WEIGHT_FILES = {
    "resnet18": ("resnet18-f37072fd.pth",),
    "resnet50": ("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth"),
}
DOWNLOAD_ROOT = "https://download.pytorch.org/models/"
#: torchvision's input normalization, the one its ImageNet weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsUnavailable(FileNotFoundError):
    """No ImageNet weights file could be found or downloaded; the message says which file to provide."""


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ImageNetResNet(nn.Module):
    """torchvision's ``ResNet`` layout; ``fc`` is the classifier head."""

    HEAD_PREFIX = "fc."

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: tuple[int, ...], num_classes: int):
        super().__init__()
        # Every network here is fed (pixels / 255 - MEAN) / STD with the project's MEAN/STD
        # (common/imaging.py); ImageNet weights expect torchvision's. One per-channel affine maps
        # the first onto the second inside the network, so training, serving and the exported
        # ONNX/TorchScript graphs share one input contract. Not in the state dict: torchvision's
        # weight files still load unchanged.
        scale = torch.tensor(STD) / torch.tensor(IMAGENET_STD)
        shift = (torch.tensor(MEAN) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
        self.register_buffer("input_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", shift.view(1, 3, 1, 1), persistent=False)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._layer(block, 64, layers[0], 1)
        self.layer2 = self._layer(block, 128, layers[1], 2)
        self.layer3 = self._layer(block, 256, layers[2], 2)
        self.layer4 = self._layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _layer(self, block, width: int, count: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != width * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, width * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(width * block.expansion))
        layers = [block(self.inplanes, width, stride, downsample)]
        self.inplanes = width * block.expansion
        layers += [block(self.inplanes, width) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.input_scale + self.input_shift
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int) -> ImageNetResNet:
    return ImageNetResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet50(num_classes: int) -> ImageNetResNet:
    return ImageNetResNet(Bottleneck, (3, 4, 6, 3), num_classes)


def torch_cache_dir() -> Path:
    """torchvision's checkpoint cache: ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def locate_weights(architecture: str, explicit: str | None = None, download: bool = True) -> Path:
    """The ImageNet weights file for ``architecture``: explicit, cached, or downloaded into the cache.

    Raises:
        WeightsUnavailable: none of the three worked; the message names the file and folder.
    """
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise WeightsUnavailable(f"initial weights file {explicit} does not exist")
        return path
    names = WEIGHT_FILES[architecture]
    cache = torch_cache_dir()
    for name in names:
        if (cache / name).is_file():
            return cache / name
    problem = "downloads are switched off"
    if download:
        cache.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(DOWNLOAD_ROOT + names[0], str(cache / names[0]), progress=False)
            return cache / names[0]
        except Exception as exc:  # noqa: BLE001 - any network failure means "provide the file"
            problem = f"the download failed: {exc}"
    raise WeightsUnavailable(
        f"ImageNet weights for {architecture} are not available ({problem}). Provide {names[0]} "
        f"(torchvision's file from {DOWNLOAD_ROOT}{names[0]}): copy it to {cache}/ or pass "
        f"--initial-weights FILE (in SageMaker: a 'weights' training channel); or train from scratch "
        f"with --pretrained false")
