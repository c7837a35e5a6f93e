"""Carry a low-resolution colour transform to full resolution: the fast guided filter (torch-free).

PhotoWCT and its smoothing run at a working resolution
(:mod:`impasto.runtime.pipelines.work_size`); the result is brought back to the photo's
own size by fitting, in every small window of the low-resolution pair, a local affine
colour model (He, Sun & Tang, "Guided Image Filtering", 2013, with a colour guide)::

    output ≈ A · content + b        (A: 3x3, b: 3, per window)

averaging the models of the windows that cover each pixel, upsampling ``A`` and ``b``
bilinearly and applying them to the full-resolution content (He & Sun, "Fast Guided
Filter", 2015). That is the local affine model the smoothing step already assumes
(FastPhotoStyle's matting affinity and the graph's guided filter both make the output a
local affine function of the content), so edges and texture come from the
full-resolution content while the colours come from the stylisation.

Memory: the fit works on the low-resolution images only; the full-resolution pass runs
in row strips (:data:`STRIP_BYTES` of temporaries each), so it holds the content, the
output (both uint8) and one strip.

Convention:
    Images are ``HxWx3`` RGB, uint8 or float in ``[0, 1]``; the models map ``[0, 1]``
    colours to ``[0, 1]`` colours. ``A`` is ``hxwx3x3`` with ``A[y, x, j, i]`` the weight
    of content channel ``i`` in output channel ``j``; ``b`` is ``hxwx3``. Upsampling is
    OpenCV's bilinear (pixel centres aligned: source ``(x + 0.5) * w / W - 0.5``, clamped
    at the borders).
"""

from __future__ import annotations

import numpy as np

from impasto.errors import ImageError

#: Window radius of the fit, in working-resolution pixels (a 5x5 window).
DEFAULT_RADIUS = 2
#: Regulariser of the fit on ``[0, 1]`` colours: keeps ``A`` bounded in flat windows.
DEFAULT_EPS = 1e-5
#: Bytes of float32 temporaries per strip of the full-resolution pass.
STRIP_BYTES = 64 * 2 ** 20


def _unit(image: np.ndarray) -> np.ndarray:
    """``image`` as float32 in ``[0, 1]``."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1 / 255)
    return image.astype(np.float32)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the ``(2r+1)^2`` window around every pixel (reflected borders), channel by channel.

    One OpenCV call on all channels at once (at most 9 here; OpenCV takes up to 512).
    """
    import cv2

    k = (2 * radius + 1, 2 * radius + 1)
    flat = np.ascontiguousarray(x.reshape(*x.shape[:2], -1))
    return cv2.boxFilter(flat, -1, k, normalize=True, borderType=cv2.BORDER_REFLECT).reshape(x.shape)


def _solve_sym3(s: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``S^-1 @ rhs`` for every pixel: ``S`` symmetric positive definite ``...x3x3`` (cofactors, vectorised)."""
    a, b, c = s[..., 0, 0], s[..., 0, 1], s[..., 0, 2]
    d, e, f = s[..., 1, 1], s[..., 1, 2], s[..., 2, 2]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    inv = np.stack([np.stack([c00, c01, c02], -1), np.stack([c01, c11, c12], -1),
                    np.stack([c02, c12, c22], -1)], -2) / det[..., None, None]
    return inv @ rhs


def fit_affine(content: np.ndarray, output: np.ndarray, *, radius: int = DEFAULT_RADIUS,
               eps: float = DEFAULT_EPS) -> tuple[np.ndarray, np.ndarray]:
    """The window-averaged local affine model ``output ≈ A · content + b`` (see the module docstring).

    Args:
        content: ``hxwx3`` guide (the low-resolution content).
        output: ``hxwx3`` target (the low-resolution stylisation), same size.
        radius: window radius in pixels.
        eps: ridge regulariser on the content's window covariance.

    Returns:
        ``(A, b)``: ``hxwx3x3`` and ``hxwx3`` float32.

    Raises:
        ImageError: the two images differ in size or are not ``hxwx3``.
    """
    if content.shape != output.shape or content.ndim != 3 or content.shape[2] != 3:
        raise ImageError(f"guided upsampling: expected two HxWx3 images of one size, got {content.shape} and "
                         f"{output.shape}")
    guide, target = _unit(content), _unit(output)
    # centred on the image's mean colour: the window covariances below then lose no float32 precision
    centre = guide.reshape(-1, 3).mean(0)
    guide -= centre
    mean_i = _box(guide, radius)
    mean_p = _box(target, radius)
    # window covariances: content x content (3x3) and content x output (3x3)
    cov_ii = _box(guide[..., :, None] * guide[..., None, :], radius) - mean_i[..., :, None] * mean_i[..., None, :]
    cov_ip = _box(guide[..., :, None] * target[..., None, :], radius) - mean_i[..., :, None] * mean_p[..., None, :]
    cov_ii += np.float32(eps) * np.eye(3, dtype=np.float32)
    # cov_ii @ X = cov_ip  ->  X[i, j] = weight of content channel i in output channel j; A = X^T
    a = np.swapaxes(_solve_sym3(cov_ii, cov_ip), -1, -2)
    del cov_ii, cov_ip
    # b for the uncentred content: mean_p - A (mean_i + centre)
    b = mean_p - np.einsum("hwji,hwi->hwj", a, mean_i + centre)
    return np.ascontiguousarray(_box(a, radius), np.float32), _box(b, radius).astype(np.float32)


def _rows_for(height: int, low_height: int, start: int, stop: int):
    """Bilinear row sources of full-resolution rows ``start..stop``: ``(i0, i1, weight of i1)``."""
    y = (np.arange(start, stop, dtype=np.float64) + 0.5) * (low_height / height) - 0.5
    y = np.clip(y, 0.0, low_height - 1)
    i0 = np.floor(y).astype(np.intp)
    i1 = np.minimum(i0 + 1, low_height - 1)
    return i0, i1, (y - i0).astype(np.float32)[:, None, None]


def apply_affine(content: np.ndarray, a: np.ndarray, b: np.ndarray, *, strip_bytes: int = STRIP_BYTES) -> np.ndarray:
    """Upsample ``(A, b)`` bilinearly to ``content``'s size and apply them: ``A · content + b`` as uint8.

    Args:
        content: ``HxWx3`` uint8 RGB, the full-resolution content.
        a, b: the low-resolution models from :func:`fit_affine`.
        strip_bytes: float32 temporaries per row strip (bounds the memory).

    Returns:
        ``HxWx3`` uint8 RGB, rounded and clipped.
    """
    import cv2

    height, width = content.shape[:2]
    low_h, low_w = a.shape[:2]
    # channel planes (12, h, w): every full-resolution operation below runs on contiguous rows
    models = np.ascontiguousarray(np.concatenate([a.reshape(low_h, low_w, 9), b], axis=2).transpose(2, 0, 1))
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, strip_bytes // (width * 4 * (12 + 3 + 3)))
    for start in range(0, height, rows):
        stop = min(height, start + rows)
        i0, i1, wy = _rows_for(height, low_h, start, stop)
        wy = wy[None, :, :, 0]  # (1, n, 1)
        low = models[:, i0] * (1 - wy) + models[:, i1] * wy  # vertical pass, at the low width: (12, n, w)
        plane = [cv2.resize(low[k], (width, stop - start), interpolation=cv2.INTER_LINEAR)  # horizontal pass
                 for k in range(12)]
        guide = [g.astype(np.float32) * np.float32(1 / 255) for g in cv2.split(content[start:stop])]
        tmp = np.empty_like(plane[0])
        res = []
        for j in range(3):
            r = plane[9 + j]
            for i in range(3):
                r += np.multiply(plane[3 * j + i], guide[i], out=tmp)
            r *= np.float32(255.0)
            r += np.float32(0.5)
            np.clip(r, 0, 255, out=r)
            res.append(r.astype(np.uint8))
        out[start:stop] = cv2.merge(res)
    return out


def guided_upsample(content: np.ndarray, low_content: np.ndarray, low_output: np.ndarray, *,
                    radius: int = DEFAULT_RADIUS, eps: float = DEFAULT_EPS) -> np.ndarray:
    """Bring ``low_output`` to ``content``'s size along the content's edges (fit, upsample, apply).

    Args:
        content: ``HxWx3`` uint8 RGB, full resolution.
        low_content: the content at the working size (what the stylisation saw).
        low_output: the stylisation at the working size (uint8, or float in ``[0, 1]``).
        radius, eps: see :func:`fit_affine`.
    """
    a, b = fit_affine(low_content, low_output, radius=radius, eps=eps)
    return apply_affine(content, a, b)
