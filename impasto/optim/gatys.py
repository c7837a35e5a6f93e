"""Optimisation-based style transfer (Gatys, Ecker & Bethge, CVPR 2016).

The pixels of one image are optimised so that its VGG16 content features match the
content photo and its Gram matrices match the painting:
``L = alpha * L_content + beta * sum_l w_l E_l + tv_weight * TV`` with the paper's
``L_content = 1/2 sum (F - P)^2`` (eq. 1) and ``E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2`` (eq. 4).
Optional coarse-to-fine scales and luminance-only transfer ("Preserving color in
neural artistic style transfer", Gatys et al. 2016).

Convention:
    Images in and out are ``HxWx3`` uint8 RGB arrays. Internally pixels are float
    tensors ``(1, 3, H, W)`` in ``[0, 1]`` (``(1, 1, H, W)`` luminance with
    ``preserve_color``) and are clamped to ``[0, 1]`` before every evaluation. Sizes
    (``scales``) are the longest image side in pixels. Loss weights assume the
    Caffe-scale VGG16 weights in ``shared/weights`` (activations ~100x torchvision's);
    ``L_content`` is a sum over positions, so the balance shifts with image size.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from impasto.errors import UserError
from impasto.models.imaging import resize_longest

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)  # the paper's conv4_2 (VGG19) mapped to VGG16
_Y = np.array([0.299, 0.587, 0.114], np.float32)  # luma of YCbCr / YIQ (BT.601)


def scale_sizes(size: int, n: int) -> tuple[int, ...]:
    """Coarse-to-fine longest sides ending at ``size``, halving: ``(512, 3) -> (128, 256, 512)``."""
    if size < 16 or n < 1:
        raise UserError(f"scales: expected size >= 16 and a count >= 1, got size={size}, count={n}")
    return tuple(max(16, round(size / 2 ** k)) for k in reversed(range(n)))


@dataclass(frozen=True)
class GatysConfig:
    """Everything that defines one Gatys optimisation.

    ``content_weight / style_weight`` is the paper's ``alpha / beta`` (1e-3 by default).
    ``iters`` counts loss evaluations per scale; ``style_layer_weights=None`` means
    ``1 / len(style_layers)`` each; ``style_scale`` sizes the style image relative to the
    content at every scale.
    """

    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 0.0
    optimizer: str = "lbfgs"
    lr: float = 0.02
    iters: int = 300
    init: str = "content"
    scales: tuple[int, ...] = (512,)
    style_scale: float = 1.0
    pool: str = "avg"
    preserve_color: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        from impasto.models.vgg import TAPS

        for what, layers in (("content_layers", self.content_layers), ("style_layers", self.style_layers)):
            bad = [t for t in layers if t not in TAPS]
            if not layers or bad:
                raise UserError(f"{what}: expected names from {', '.join(TAPS)}, got {list(layers) or 'none'}")
        w = self.style_layer_weights
        if w is None:
            object.__setattr__(self, "style_layer_weights", (1.0 / len(self.style_layers),) * len(self.style_layers))
        elif len(w) != len(self.style_layers) or any(not np.isfinite(v) or v < 0 for v in w):
            raise UserError(f"style_layer_weights: expected {len(self.style_layers)} non-negative numbers, got {w}")
        for name in ("content_weight", "style_weight", "tv_weight", "lr", "style_scale"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0 or (v == 0 and name in ("lr", "style_scale")):
                raise UserError(f"{name}: expected a {'positive' if name in ('lr', 'style_scale') else 'non-negative'}"
                                f" finite number, got {v!r}")
        for name, allowed in (("optimizer", ("lbfgs", "adam")), ("init", ("content", "noise", "style")),
                              ("pool", ("avg", "max"))):
            if getattr(self, name) not in allowed:
                raise UserError(f"{name}: expected one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.iters < 1:
            raise UserError(f"iters: expected a positive integer, got {self.iters}")
        if not self.scales or any(s < 16 for s in self.scales) or list(self.scales) != sorted(self.scales):
            raise UserError(f"scales: expected increasing sizes >= 16 px, got {list(self.scales)}")


def _luma(rgb: np.ndarray) -> np.ndarray:
    """``HxWx3`` float RGB in [0, 1] -> ``HxW`` luminance."""
    return rgb @ _Y


def _chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Cb, Cr)`` of full-range BT.601 YCbCr, centred on 0."""
    y = _luma(rgb)
    return (rgb[..., 2] - y) / 1.772, (rgb[..., 0] - y) / 1.402


def _from_ycbcr(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    r, b = y + 1.402 * cr, y + 1.772 * cb
    g = (y - _Y[0] * r - _Y[2] * b) / _Y[1]
    return np.clip(np.stack([r, g, b], -1), 0.0, 1.0)


def _prepare(img: np.ndarray, longest: int, gray: bool, match: np.ndarray | None = None) -> np.ndarray:
    """Resize to ``longest``; with ``gray`` return luminance (optionally mean/std-matched to ``match``)."""
    x = resize_longest(img, longest).astype(np.float32) / 255.0
    if not gray:
        return x
    y = _luma(x)
    if match is not None:
        y = (y - y.mean()) / max(float(y.std()), 1e-6) * float(match.std()) + float(match.mean())
    return np.clip(y, 0.0, 1.0)[..., None]


def run_gatys(content: np.ndarray, style: np.ndarray, cfg: GatysConfig, *, vgg: Any = None, progress: bool = True,
              device: str = "cpu", vgg_weights: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Stylise ``content`` with ``style`` by optimising pixels, coarse to fine.

    Args:
        content: ``HxWx3`` uint8 RGB photo; the result has its aspect ratio and longest side ``cfg.scales[-1]``.
        style: ``HxWx3`` uint8 RGB painting.
        cfg: the optimisation settings.
        vgg: a :class:`~impasto.models.vgg.VGG16Features` to reuse (its pooling must match ``cfg.pool``).
        progress: draw a progress bar on stderr.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        vgg_weights: weights path when ``vgg`` is None (default: ``$IMPASTO_VGG16_WEIGHTS``).

    Returns:
        ``(image, summary)``: the ``HxWx3`` uint8 RGB result and a JSON-ready dict with
        ``final_losses`` (unweighted ``content``, ``style``, ``tv`` and the weighted ``total``
        at the last scale), ``initial_style_loss`` (first scale), ``seconds``, ``iterations``
        and per-scale details under ``scales``.

    Raises:
        UserError: bad images, device or a ``vgg`` whose pooling differs from ``cfg.pool``.
    """
    import torch

    from impasto.runtime.io.images import to_rgb8
    from impasto.utils.progress import Progress

    content, style = to_rgb8(content, name="content"), to_rgb8(style, name="style")
    dev = _device(device)
    objective = _Objective(_loss_network(vgg, cfg, vgg_weights).to(dev), cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    bar = Progress(cfg.iters * len(cfg.scales), "gatys", enabled=progress)
    t0, x, records = time.perf_counter(), None, []
    for size in cfg.scales:
        ts = time.perf_counter()
        c_np = _prepare(content, size, cfg.preserve_color)
        s_np = _prepare(style, max(16, round(size * cfg.style_scale)), cfg.preserve_color,
                        match=c_np if cfg.preserve_color else None)
        c_t, s_t = _to_batch(c_np, dev), _to_batch(s_np, dev)
        targets = objective.targets(c_t, s_t)
        x, rec = _optimise(_start_image(x, c_t, s_t, cfg.init, gen), lambda t, g=targets: objective(t, g), cfg, bar)
        rec["final"] = {k: float(v) for k, v in objective(x, targets, grad=False).items()}
        rec.update(size=list(c_np.shape[:2]), style_size=list(s_np.shape[:2]),
                   seconds=round(time.perf_counter() - ts, 2))
        records.append(rec)
    bar.close()
    image = _to_uint8(x, _prepare(content, cfg.scales[-1], False) if cfg.preserve_color else None)
    summary = {"final_losses": records[-1]["final"], "initial_style_loss": records[0]["initial"]["style"],
               "initial_losses": records[0]["initial"], "seconds": round(time.perf_counter() - t0, 2),
               "iterations": sum(r["iterations"] for r in records), "size": list(image.shape[:2]),
               "scales": records, "device": str(dev),
               "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}}
    return image, summary


def _device(name: str) -> Any:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device, refused with a message when CUDA is absent."""
    import torch

    if not (name in ("cpu", "cuda") or name.startswith("cuda:")):
        raise UserError(f"device: expected cpu or cuda, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("device cuda: this torch build has no CUDA device; use cpu")
    return torch.device(name)


def _loss_network(vgg: Any, cfg: GatysConfig, weights: str | None) -> Any:
    """The VGG16 feature extractor with ``cfg.pool`` pooling: a new one, or ``vgg`` checked against ``cfg``."""
    import torch

    from impasto.models.vgg import VGG16Features

    if vgg is None:
        return VGG16Features(weights, pool=cfg.pool)
    if any(isinstance(m, torch.nn.AvgPool2d) for m in vgg.modules()) != (cfg.pool == "avg"):
        raise UserError(f"vgg: its pooling does not match pool={cfg.pool!r}")
    return vgg


def _to_batch(a: np.ndarray, dev: Any) -> Any:
    """``HxWxC`` float array -> ``(1, C, H, W)`` tensor on ``dev``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].to(dev)


def _start_image(previous: Any, c_t: Any, s_t: Any, init: str, gen: Any) -> Any:
    """Where a scale's optimisation starts: the previous scale's result upsampled, else ``init``."""
    import torch
    from torch.nn import functional as F

    if previous is not None:
        x0 = F.interpolate(previous, size=c_t.shape[2:], mode="bilinear", align_corners=False)
    elif init == "content":
        x0 = c_t.clone()
    elif init == "style":
        x0 = F.interpolate(s_t, size=c_t.shape[2:], mode="bilinear", align_corners=False)
    else:  # white noise, as in the paper
        x0 = torch.rand(c_t.shape, generator=gen).to(c_t.device)
    return x0.clamp(0, 1)


def _to_uint8(x: Any, colour_source: np.ndarray | None) -> np.ndarray:
    """The optimised tensor as ``HxWx3`` uint8; with ``colour_source`` its luminance takes that image's chroma."""
    out = x.detach()[0].permute(1, 2, 0).float().cpu().numpy()
    if colour_source is not None:
        out = _from_ycbcr(out[..., 0], *_chroma(colour_source))
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


class _Objective:
    """The paper's loss at one scale: content (eq. 1), weighted style layers (eq. 4) and total variation.

    Convention:
        Inputs are ``(1, C, H, W)`` in ``[0, 1]`` with ``C`` 3 (RGB) or 1 (luminance,
        replicated to 3 channels before VGG16).
    """

    def __init__(self, vgg: Any, cfg: GatysConfig) -> None:
        self.vgg, self.cfg = vgg, cfg
        self.taps = list(dict.fromkeys(cfg.content_layers + cfg.style_layers))

    def targets(self, c_t: Any, s_t: Any) -> tuple[dict, dict]:
        """``(P, A)``: content features and style Grams, the Grams rescaled to the content's size."""
        import torch

        from impasto.models.losses import gram

        cfg = self.cfg
        with torch.no_grad():
            cf, sf = self.vgg(c_t.expand(-1, 3, -1, -1), self.taps), self.vgg(s_t.expand(-1, 3, -1, -1),
                                                                                cfg.style_layers)
            # eq. 4 divides by the generated image's M_l^2: rescale A_l from the style's M_l to it
            a = {k: gram(v, normalize="none") * (cf[k][0, 0].numel() / v[0, 0].numel()) for k, v in sf.items()}
        return {k: cf[k] for k in cfg.content_layers}, a

    def __call__(self, x: Any, targets: tuple[dict, dict], grad: bool = True) -> dict[str, Any]:
        import torch

        from impasto.models.losses import gatys_style_layer_loss, tv_loss

        cfg, (p, a) = self.cfg, targets
        with torch.set_grad_enabled(grad):
            feats = self.vgg(x.expand(-1, 3, -1, -1), self.taps)
            lc = sum(0.5 * (feats[k] - p[k]).square().sum() for k in cfg.content_layers) / len(cfg.content_layers)
            ls = sum(w * gatys_style_layer_loss(feats[k], a[k])
                     for k, w in zip(cfg.style_layers, cfg.style_layer_weights))
            tv = tv_loss(x)
        return {"content": lc, "style": ls, "tv": tv,
                "total": cfg.content_weight * lc + cfg.style_weight * ls + cfg.tv_weight * tv}


def _optimise(x0: Any, loss_fn: Any, cfg: GatysConfig, bar: Any) -> tuple[Any, dict[str, Any]]:
    """Minimise ``loss_fn(x)["total"]`` over the pixels ``x`` for ``cfg.iters`` loss evaluations.

    A line search may overrun the budget by a few evaluations; the record counts them all.
    """
    import torch

    x = x0.detach().clone().contiguous().requires_grad_(True)
    rec: dict[str, Any] = {"iterations": 0}
    if cfg.optimizer == "lbfgs":  # without a line search, L-BFGS diverges on these Caffe-scale losses
        opt: torch.optim.Optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=20, history_size=50, tolerance_grad=0.0,
                                                       tolerance_change=0.0, line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam([x], lr=cfg.lr)

    def closure() -> torch.Tensor:
        with torch.no_grad():
            x.clamp_(0, 1)  # keep pixels in range; L-BFGS tolerates this small projection
        opt.zero_grad(set_to_none=True)
        out = loss_fn(x)
        out["total"].backward()
        if rec["iterations"] == 0:
            rec["initial"] = {k: float(v.detach()) for k, v in out.items()}
        rec["iterations"] += 1
        bar.update(1, style=float(out["style"].detach()), content=float(out["content"].detach()))
        return out["total"]

    while rec["iterations"] < cfg.iters:
        if cfg.optimizer == "lbfgs":  # chunks of <= 20 iterations; the history carries over
            left = min(20, cfg.iters - rec["iterations"])
            opt.param_groups[0].update(max_iter=left, max_eval=left)
        opt.step(closure)
    with torch.no_grad():
        x.clamp_(0, 1)
    return x.detach(), rec
