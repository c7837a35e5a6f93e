"""Weighted squared differences between templates and every window of an image at once, by FFT (torch-free).

Image quilting picks each block among all ``patch x patch`` windows of the texture by how
well the window matches what is already there. This module scores every window with one
inverse DFT per block, whatever the number of terms:

    error[y, x] = sum_t sum_{u,v,c} W_t[u,v,c] * (I[y+u, x+v, c] - T_t[u,v,c])^2
                = corr(I^2, sum_t W_t) - 2 corr(I, sum_t W_t T_t) + sum_t sum W_t T_t^2

The two correlations are products of spectra (OpenCV's DFT); the first depends only on
the weights and is cached. No Python loop ever runs over window positions.

Convention:
    The image is ``HxWxC`` float (quilting uses ``[0, 1]``). A :class:`Term` holds a
    ``PxPxC`` template and ``PxPxC`` weights (or ``PxPx1``, the same for every channel;
    zero where a pixel does not count). Error maps have shape ``(H - P + 1, W - P + 1)``:
    entry ``[y, x]`` scores the window whose top-left pixel is ``(y, x)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def opencv():
    import cv2  # imported lazily: keeps `import impasto.runtime` fast

    return cv2


#: DFTs run in float32: twice the speed of float64; rounding (~1e-6 of the energies) is far
#: below the differences between windows that the tolerance separates.
DTYPE = np.float32


@dataclass(frozen=True)
class Term:
    """One weighted squared-difference term: ``sum W * (window - template)^2``."""

    template: np.ndarray
    weights: np.ndarray


class WindowMatcher:
    """Scores every window of one fixed image against weighted templates (its spectra are computed once).

    Args:
        image: ``HxWxC`` float image (``HxW`` for one channel).
    """

    def __init__(self, image: np.ndarray) -> None:
        self._cv = cv2 = opencv()
        image = np.asarray(image, DTYPE)
        if image.ndim == 2:
            image = image[..., None]
        self.height, self.width, self.channels = image.shape
        self._dft_shape = (cv2.getOptimalDFTSize(self.height), cv2.getOptimalDFTSize(self.width))
        self._spectra = [self._dft(image[..., c]) for c in range(self.channels)]
        self._energy_spectra = [self._dft(image[..., c] ** 2) for c in range(self.channels)]
        self._energy_maps: dict[bytes, np.ndarray] = {}

    def _dft(self, plane: np.ndarray) -> np.ndarray:
        """The packed (CCS) spectrum of ``plane``, zero-padded to the DFT size."""
        padded = np.zeros(self._dft_shape, DTYPE)
        padded[:plane.shape[0], :plane.shape[1]] = plane
        return self._cv.dft(padded)

    def _valid(self, spectrum: np.ndarray, patch: int) -> np.ndarray:
        """The inverse DFT of ``spectrum``, cut to the windows that lie inside the image."""
        cv2 = self._cv
        out = cv2.idft(spectrum, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
        return out[:self.height - patch + 1, :self.width - patch + 1].astype(np.float64)

    def _energy(self, weights: np.ndarray) -> np.ndarray:
        """``corr(I^2, weights)`` for every window, cached per weights (a few distinct ones per run)."""
        key = weights.shape[0].to_bytes(4, "little") + weights.tobytes()
        if key not in self._energy_maps:
            spectrum = sum(self._cv.mulSpectrums(self._energy_spectra[c], self._dft(weights[..., c]), 0, conjB=True)
                           for c in range(self.channels) if weights[..., c].any())
            self._energy_maps[key] = self._valid(spectrum, weights.shape[0])
        return self._energy_maps[key]

    def ssd(self, terms: Sequence[Term]) -> np.ndarray:
        """The weighted sum of squared differences of ``terms`` for every window (see the module docstring).

        Args:
            terms: at least one term; templates ``PxPxC`` (or ``PxP`` when ``C`` is 1) of
                one size ``P``, at most the image's sides.

        Returns:
            ``(H - P + 1) x (W - P + 1)`` float64 map, ``>= 0`` (rounding below zero is clipped).
        """
        patch = terms[0].template.shape[0]
        weights = np.zeros((patch, patch, self.channels), DTYPE)
        weighted = np.zeros((patch, patch, self.channels), DTYPE)
        constant = 0.0
        for term in terms:
            template = term.template if term.template.ndim == 3 else term.template[..., None]
            w = np.broadcast_to(term.weights if term.weights.ndim == 3 else term.weights[..., None], template.shape)
            weights += w
            weighted += w * template
            constant += float((w * template.astype(np.float64) ** 2).sum())
        cross = sum(self._cv.mulSpectrums(self._spectra[c], self._dft(weighted[..., c]), 0, conjB=True)
                    for c in range(self.channels) if weights[..., c].any())
        out = self._energy(weights) - 2.0 * self._valid(cross, patch) + constant
        return np.maximum(out, 0.0)


def pick_within_tolerance(error: np.ndarray, tolerance: float, rng: np.random.Generator) -> tuple[int, int]:
    """A position drawn uniformly among those whose error is within ``(1 + tolerance)`` of the best.

    Args:
        error: ``rows x cols`` map of errors ``>= 0``.
        tolerance: the paper's 0.1 by default; 0 keeps only the best (and its ties).
        rng: the random generator (seeded by the caller for repeatable runs).

    Returns:
        ``(y, x)`` of the chosen window.
    """
    best = float(error.min())
    candidates = np.flatnonzero(error <= best * (1.0 + tolerance))
    return divmod(int(candidates[rng.integers(len(candidates))]), error.shape[1])
