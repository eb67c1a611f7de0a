"""Real images that are on this machine without a network, in both input kinds the ETL takes.

- scikit-learn's ``digits``: 1,797 scanned handwritten digits (8x8, 16 grey levels, UCI);
- scikit-image's ``lfw_subset``: 100 faces from Labeled Faces in the Wild and 100 non-face patches (25x25);
- scikit-image's bundled photographs (brick, grass, gravel, the moon, coffee, retina, ...): ten classes of
  non-overlapping tiles, one class per photograph -- many classes of real pixels that are not digits.

Both packages ship the pixels in their wheels (``pip install -e '.[test]'`` brings them). The
builders write them the way a user would bring images: a CIFAR-100-format archive, or a
class-per-folder tree of mixed sizes and formats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.clip(np.rint(data.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return pixels, data.target.astype(np.int64)


def _rgb(grey: np.ndarray, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(grey, "L").resize(size, Image.BILINEAR).convert("RGB")


def digits_archive(path: Path, digits: tuple[int, ...] = (3, 8), test_fraction: float = 0.2, seed: int = 0) -> Path:
    """A CIFAR-100 python-pickle archive of scanned digits (upscaled to 32x32 RGB); classes named by word."""
    from processing.cifar import CifarSplit, write_tarball

    pixels, target = _digits()
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(np.isin(target, digits))
    rng.shuffle(rows)
    cut = int(round(len(rows) * (1 - test_fraction)))

    def split(name: str, chosen: np.ndarray) -> CifarSplit:
        images = np.stack([np.asarray(_rgb(pixels[i], (32, 32))) for i in chosen])
        return CifarSplit(name=name, images=images, fine_labels=target[chosen], coarse_labels=np.zeros(len(chosen),
                          np.int64), filenames=tuple(f"{DIGIT_NAMES[target[i]]}_s_{i:06d}.png" for i in chosen))

    return write_tarball(Path(path), split("train", rows[:cut]), split("test", rows[cut:]), DIGIT_NAMES, ("digit",))


def digits_folder(root: Path, digits: tuple[int, ...] = (0, 1, 2, 3), seed: int = 0) -> Path:
    """Class-per-folder scans of mixed sizes (32x32 to 100x75) as PNG and JPEG.

    Each digit keeps its aspect ratio, as a scan does: it is scaled to fit the page's short side
    and placed at a random spot of a blank page of random size, so some margin shows around it.
    """
    pixels, target = _digits()
    rng = np.random.default_rng(seed)
    root = Path(root)
    for digit in digits:
        folder = root / DIGIT_NAMES[digit]
        folder.mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(target == digit):
            width, height = int(rng.integers(32, 101)), int(rng.integers(32, 76))
            side = int(rng.integers(max(24, int(0.75 * min(width, height))), min(width, height) + 1))
            image = Image.new("RGB", (width, height), (0, 0, 0))  # the digits' background is 0
            left = (width - side) // 2 + int(rng.integers(-(width - side) // 4, (width - side) // 4 + 1))
            top = (height - side) // 2 + int(rng.integers(-(height - side) // 4, (height - side) // 4 + 1))
            image.paste(_rgb(pixels[i], (side, side)), (left, top))
            if rng.random() < 0.5:
                image.save(folder / f"scan_{i:04d}.png")
            else:
                image.save(folder / f"scan_{i:04d}.jpg", quality=int(rng.integers(70, 96)))
    return root


def faces_folder(root: Path) -> Path:
    """Labeled Faces in the Wild crops against non-face patches (scikit-image's lfw_subset), 25x25 PNG."""
    from skimage.data import lfw_subset

    images = np.clip(np.rint(lfw_subset() * 255), 0, 255).astype(np.uint8)  # the first 100 are faces
    root = Path(root)
    for index, grey in enumerate(images):
        folder = root / ("face" if index < 100 else "not_face")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grey, "L").convert("RGB").save(folder / f"lfw_{index:03d}.png")
    return root


#: scikit-image's bundled photographs used as texture classes: each gives tiles of one kind of surface.
TEXTURES = ("brick", "grass", "gravel", "moon", "coffee", "rocket", "immunohistochemistry", "retina",
            "hubble_deep_field", "astronaut")


def textures_folder(root: Path, per_class: int = 170, tile: int = 32, seed: int = 0) -> Path:
    """Ten classes of real photographic texture: non-overlapping tiles of ten bundled photographs.

    No two images share a pixel, so a test tile is never a shifted copy of a training one. Nearly
    flat tiles (the black around the retina, empty sky) are left out: they belong to no class. Tiles
    are saved at mixed sizes (32 to 64 px) as PNG or JPEG, as a user's folder would hold them.
    """
    import skimage.data

    rng = np.random.default_rng(seed)
    root = Path(root)
    for name in TEXTURES:
        photo = np.asarray(getattr(skimage.data, name)())
        photo = photo if photo.ndim == 3 else np.stack([photo] * 3, axis=-1)
        photo = photo[..., :3].astype(np.uint8)
        tiles = [photo[y:y + tile, x:x + tile] for y in range(0, photo.shape[0] - tile + 1, tile)
                 for x in range(0, photo.shape[1] - tile + 1, tile)]
        tiles = [t for t in tiles if t.std() >= 5.0]
        chosen = rng.permutation(len(tiles))[:per_class]
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in chosen:
            side = int(rng.integers(32, 65))
            image = Image.fromarray(tiles[index]).resize((side, side), Image.BILINEAR)
            if rng.random() < 0.5:
                image.save(folder / f"tile_{index:04d}.png")
            else:
                image.save(folder / f"tile_{index:04d}.jpg", quality=int(rng.integers(80, 96)))
    return root
