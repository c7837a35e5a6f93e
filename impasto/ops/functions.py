"""The public ops: validate, then run the compiled kernel or the pure-PyTorch reference.

See :mod:`impasto.ops.reference` for the formulas and :mod:`impasto.ops.extension` for
when the kernel runs. Inputs are made contiguous here (the kernels require it and say so).

Convention:
    Features ``BxCxHxW``; points ``BxKx2`` as ``(x, y)`` in ``[-1, 1]`` with
    ``align_corners=False`` (as :func:`torch.nn.functional.grid_sample`); the TPS map
    ``T`` has ``T(dst_k) = src_k`` and ``output(p) = image(T(p))`` (bilinear, zero
    padding): the content at ``src_k`` appears at ``dst_k``. float32 or float64, all
    inputs of a call on one device with one dtype.
"""

from __future__ import annotations

import math

import torch

from impasto.ops import reference
from impasto.ops.extension import use_kernel
from impasto.ops.validate import (
    OpInputError,
    check_correlation_inputs,
    check_local_inputs,
    check_points,
    check_regularization,
    check_size,
    check_tensor,
)

#: Default softmax temperature of :func:`window_softmax` (correlations are in [-1, 1]).
DEFAULT_TEMPERATURE = 0.05


def correlation4d(fc: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
    """Normalised dense 4D correlation of Learning to Warp.

    Args:
        fc: ``BxCxHxW`` content features.
        fg: ``BxCxHgxWg`` guidance features (same B, C, dtype, device).

    Returns:
        ``BxHxWxHgxWg`` with ``M(i,j,k,l) = <f^c(i,j), f^g(k,l)> / sqrt(sum_{p,q} <f^c(i,j), f^g(p,q)>^2 + eps)``
        of the per-position L2-normalised features.

    Raises:
        OpInputError: on a wrong rank, shape, dtype or device.
    """
    fc, fg = check_correlation_inputs(fc, fg)
    if use_kernel(fc, fg):
        return torch.ops.impasto.correlation4d(fc.contiguous(), fg.contiguous())
    return reference.correlation4d(fc, fg)


def local_correlation(fc: torch.Tensor, fg: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised correlation over a ``(2r+1)^2`` window (memory ``H*W*(2r+1)^2``).

    Args:
        fc: ``BxCxHxW`` content features.
        fg: ``BxCxHxW`` guidance features.
        radius: window radius ``r >= 0``.

    Returns:
        ``Bx(2r+1)^2xHxW``; channel ``(dy+r)*(2r+1)+(dx+r)`` correlates ``fc(i,j)`` with
        ``fg(i+dy, j+dx)`` (zero outside the image), normalised over the window.

    Raises:
        OpInputError: on a wrong rank, shape, dtype, device or radius.
    """
    fc, fg, radius = check_local_inputs(fc, fg, radius)
    if use_kernel(fc, fg):
        return torch.ops.impasto.local_correlation(fc.contiguous(), fg.contiguous(), radius)
    return reference.local_correlation(fc, fg, radius)


def window_softmax(local_corr: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
    """Softmax over the window dimension (dim 1) of ``local_corr / temperature``.

    Args:
        local_corr: ``Bx(2r+1)^2xHxW`` from :func:`local_correlation`.
        temperature: a finite number > 0; smaller is sharper.

    Returns:
        Probabilities of the same shape, summing to 1 over dim 1.

    Raises:
        OpInputError: on a wrong rank or dtype, a window that is not a square of an odd side,
            or a bad temperature.
    """
    local_corr = check_tensor("window_softmax", "local_corr", local_corr, 4, "Bx(2r+1)^2xHxW")
    n = local_corr.shape[1]
    side = math.isqrt(n)
    if side * side != n or side % 2 == 0:
        raise OpInputError(f"window_softmax: expected (2r+1)^2 window channels in dim 1, got {n}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            0.0 < float(temperature) < math.inf):
        raise OpInputError(f"window_softmax: expected temperature as a finite number > 0, got {temperature!r}")
    return reference.window_softmax(local_corr, float(temperature))


def tps_grid(src_points: torch.Tensor, dst_points: torch.Tensor, height: int, width: int,
             regularization: float = 0.0) -> torch.Tensor:
    """The ``BxHxWx2`` sampling grid of the TPS warp (always the reference; also the ONNX path).

    ``grid_sample(image, tps_grid(src, dst, H, W), align_corners=False)`` equals
    :func:`tps_warp`.

    Raises:
        OpInputError: on bad points, size or regularization.
    """
    src, dst = check_points("tps_grid", src_points, dst_points, None)
    height, width = check_size("tps_grid", height, width)
    reg = check_regularization("tps_grid", regularization)
    if src.shape[0] == 0 or height == 0 or width == 0:
        return src.new_zeros(src.shape[0], height, width, 2)
    return reference.tps_grid(src, dst, height, width, reg)


def tps_warp(image: torch.Tensor, src_points: torch.Tensor, dst_points: torch.Tensor,
             regularization: float = 0.0) -> torch.Tensor:
    """Thin-plate-spline warp: the content at ``src_k`` moves to ``dst_k``.

    The small ``(K+3)x(K+3)`` TPS system is solved with ``torch.linalg.solve`` (autograd
    through it); the kernel then evaluates the map per pixel and samples bilinearly without
    materialising the grid, with gradients for the image, the coefficients and ``dst_points``.

    Args:
        image: ``BxCxHxW``.
        src_points: ``BxKx2``, K >= 3, in normalised ``(x, y)``.
        dst_points: ``BxKx2``.
        regularization: TPS smoothing ``lambda >= 0`` added to the kernel matrix diagonal
            (0 interpolates the points exactly).

    Returns:
        ``BxCxHxW``.

    Raises:
        OpInputError: on a wrong rank, shape, dtype, device, K < 3 or a bad regularization.
    """
    image = check_tensor("tps_warp", "image", image, 4, "BxCxHxW")
    src, dst = check_points("tps_warp", src_points, dst_points, image.shape[0])
    reg = check_regularization("tps_warp", regularization)
    for name, t in (("src_points", src), ("dst_points", dst)):
        if t.dtype != image.dtype or t.device != image.device:
            raise OpInputError(f"tps_warp: expected {name} as {image.dtype} on {image.device} like image, "
                               f"got {t.dtype} on {t.device}")
    if image.numel() == 0:
        return image.new_zeros(image.shape)
    if use_kernel(image, src, dst):
        coeffs = reference.tps_coefficients(src, dst, reg)
        return torch.ops.impasto.tps_sample(image.contiguous(), coeffs.contiguous(), dst.contiguous())
    return reference.tps_warp(image, src, dst, reg)
