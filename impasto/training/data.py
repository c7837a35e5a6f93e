"""Training images: an in-memory image folder with random scale, crop and flip; held-out images; previews.

Convention:
    Samples are ``(3, S, S)`` float32 RGB tensors in ``[0, 1]``. Under torchrun a batch is
    this rank's shard of a global batch (see :meth:`AugmentedImages.batch`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from impasto.errors import UserError
from impasto.models.imaging import to_image, to_tensor
from impasto.runtime.io.images import IMAGE_SUFFIXES, read_image, write_image
from impasto.training.distributed import shard, world


def list_images(folder: str | Path) -> list[Path]:
    """All image files under ``folder`` (recursive), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"--data: expected a folder of images, got {str(root)!r}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"--data: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {str(root)!r}")
    return files


@dataclass(frozen=True)
class _Crop:
    """One sample's random choices: image ``index``, resized to ``height x width``, crop corner, flip."""

    index: int
    height: int
    width: int
    y: int
    x: int
    shrink: bool
    flip: bool


class AugmentedImages:
    """Random square crops of an image folder, decoded once and kept in memory.

    Each sample: scale the image so its shorter side is ``size * U(1, max_scale)``,
    take a random ``size x size`` crop, flip horizontally with probability 1/2.

    Args:
        folder: image folder (recursive).
        size: crop side in pixels.
        max_scale: upper bound of the random zoom.
        seed: seed of the sampler's own RNG.
    """

    def __init__(self, folder: str | Path, size: int, *, max_scale: float = 1.5, seed: int = 0) -> None:
        import cv2

        self._cv2 = cv2
        self.folder = Path(folder)
        self.files = list_images(folder)
        self.size = size
        self.max_scale = max_scale
        self.rng = random.Random(seed)
        self.images: list[np.ndarray] = []
        cap = int(size * max_scale * 1.5)
        for f in self.files:
            img = read_image(f)
            s = cap / min(img.shape[:2])
            if s < 1:  # keep memory bounded: no need for more pixels than the largest zoom
                img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
            self.images.append(img)

    def exclude(self, files: list[Path]) -> None:
        """Drop ``files`` (held-out images) from the sampled images."""
        held = set(files)
        keep = [i for i, f in enumerate(self.files) if f not in held]
        self.files, self.images = [self.files[i] for i in keep], [self.images[i] for i in keep]

    def describe(self, held_out: int | None = None) -> str:
        """The model card's ``data``: the folder, its image count and the augmentation."""
        count = f"{len(self)} images" if held_out is None else f"{len(self)} images; {held_out} held out"
        return (f"{self.folder.name}/ ({count}), random {self.size}px crops, scale 1-{self.max_scale}x, flips")

    def __len__(self) -> int:
        return len(self.images)

    def draw(self) -> _Crop:
        """The random choices of one sample (image, zoom, crop, flip), without touching pixels."""
        index = self.rng.randrange(len(self.images))
        h, w = self.images[index].shape[:2]
        short = self.size * self.rng.uniform(1.0, self.max_scale)
        s = short / min(h, w)
        nh, nw = max(self.size, round(h * s)), max(self.size, round(w * s))
        y = self.rng.randrange(nh - self.size + 1)
        x = self.rng.randrange(nw - self.size + 1)
        return _Crop(index, nh, nw, y, x, s < 1, self.rng.random() < 0.5)

    def render(self, crop: _Crop) -> torch.Tensor:
        """The ``(3, S, S)`` sample of :meth:`draw`'s choices."""
        interp = self._cv2.INTER_AREA if crop.shrink else self._cv2.INTER_LINEAR
        img = self._cv2.resize(self.images[crop.index], (crop.width, crop.height), interpolation=interp)
        img = img[crop.y:crop.y + self.size, crop.x:crop.x + self.size]
        if crop.flip:
            img = img[:, ::-1]
        return to_tensor(img)

    def sample(self) -> torch.Tensor:
        return self.render(self.draw())

    def batch(self, n: int) -> torch.Tensor:
        """``(n, 3, S, S)``: this rank's ``n`` samples of a global batch of ``n × world`` draws.

        Every rank draws the same global batch from the same seeded stream and renders only
        its own slice (:func:`impasto.training.distributed.shard`), so the ranks' samples are
        disjoint and together equal a single process's ``n × world`` batch; outside torchrun
        this is ``n`` plain samples.
        """
        draws = [self.draw() for _ in range(n * world()[1])]
        return torch.stack([self.render(draws[i]) for i in shard(n)])


def centre_crops(folder: str | Path, size: int, n: int) -> torch.Tensor:
    """``(n, 3, size, size)``: centre crops (shorter side scaled to ``size``) of ``n`` images spread over the folder."""
    import cv2

    files = list_images(folder)
    out = []
    for f in files[:: max(1, len(files) // n)][:n]:
        img = read_image(f)
        s = size / min(img.shape[:2])
        img = cv2.resize(img, (max(size, round(img.shape[1] * s)), max(size, round(img.shape[0] * s))),
                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        out.append(to_tensor(img[y:y + size, x:x + size]))
    return torch.stack(out)


def split_holdout(files: list[Path], n: int) -> tuple[list[Path], list[Path]]:
    """``(train, held out)``: ``n`` evenly spaced files of the sorted list are held out."""
    if n <= 0:
        return list(files), []
    if n >= len(files):
        raise UserError(f"--holdout {n}: expected fewer than the {len(files)} images in --data")
    step = len(files) / n
    held = {files[int(i * step + step / 2)] for i in range(n)}
    return [f for f in files if f not in held], [f for f in files if f in held]


#: Longest side of held-out images (train512 images are at most 512 px).
EVAL_MAX_SIDE = 512


def load_eval_images(files: list[Path], max_side: int = EVAL_MAX_SIDE) -> list[torch.Tensor]:
    """Held-out images as ``(1, 3, H, W)`` tensors, downscaled to ``max_side`` at most."""
    import cv2

    out = []
    for f in files:
        img = read_image(f)
        s = max_side / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        out.append(to_tensor(img)[None])
    return out


def write_grid(path: str | Path, rows: list, quality: int = 95) -> None:
    """Write rows of ``(3, H, W)`` or ``(1, 3, H, W)`` images in ``[0, 1]`` (any device) as one image grid."""
    write_image(path, np.concatenate([np.concatenate([to_image(t) for t in row], axis=1) for row in rows], axis=0),
                quality=quality)
