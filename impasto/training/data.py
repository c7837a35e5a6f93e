"""Training images: an in-memory image folder with random scale, crop and flip.

Convention:
    Samples are ``(3, S, S)`` float32 RGB tensors in ``[0, 1]``.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from impasto.errors import UserError
from impasto.models.imaging import to_tensor
from impasto.runtime.io.images import IMAGE_SUFFIXES, read_image


def list_images(folder: str | Path) -> list[Path]:
    """All image files under ``folder`` (recursive), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"--data: expected a folder of images, got {str(root)!r}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"--data: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {str(root)!r}")
    return files


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

    def __len__(self) -> int:
        return len(self.images)

    def sample(self) -> torch.Tensor:
        img = self.images[self.rng.randrange(len(self.images))]
        h, w = img.shape[:2]
        short = self.size * self.rng.uniform(1.0, self.max_scale)
        s = short / min(h, w)
        nh, nw = max(self.size, round(h * s)), max(self.size, round(w * s))
        interp = self._cv2.INTER_AREA if s < 1 else self._cv2.INTER_LINEAR
        img = self._cv2.resize(img, (nw, nh), interpolation=interp)
        y = self.rng.randrange(nh - self.size + 1)
        x = self.rng.randrange(nw - self.size + 1)
        img = img[y:y + self.size, x:x + self.size]
        if self.rng.random() < 0.5:
            img = img[:, ::-1]
        return to_tensor(img)

    def batch(self, n: int) -> torch.Tensor:
        return torch.stack([self.sample() for _ in range(n)])
