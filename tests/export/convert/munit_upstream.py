"""An official-layout MUNIT generator pair and its forward pass, written from the paper and the official layer order.

Independent of :mod:`impasto.models.munit`: the state dict is built from a hand-written
list of the official ``AdaINGen`` keys (NVlabs/MUNIT ``networks.py``: ``Conv2dBlock`` holds
``conv`` and ``norm``, ``LinearBlock`` holds ``fc``), and the forward pass is plain
``torch.nn.functional`` over that dict:

- content encoder: 7x7 conv, ``n_downsample`` 4x4 stride-2 convs, ``n_res`` residual
  blocks; each conv followed by instance norm (``(x - mu) / sqrt(var + eps)``, per image
  or the stored running statistics) and ReLU, except a residual block's second conv (no ReLU);
- style encoder: 7x7 conv, four 4x4 stride-2 convs (two doubling), ReLU after each,
  global average pooling, 1x1 conv;
- MLP: linear-ReLU-linear-ReLU-linear -> AdaIN parameters, per AdaIN layer its bias
  (the target mean) then its weight (the target standard deviation);
- decoder: residual blocks with AdaIN(x) = w * (x - mu(x)) / sqrt(var(x) + eps) + b,
  then per step nearest x2 upsampling, 5x5 conv, layer norm
  (``(x - mean) / (std + eps) * gamma + beta`` over C, H, W, unbiased std) and ReLU,
  and a 7x7 conv with tanh. Every conv is preceded by reflection padding.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

EPS = 1e-5


def official_keys(cfg: dict) -> dict[str, tuple[int, ...]]:
    """The official ``AdaINGen`` state-dict keys and shapes for a YAML ``gen:`` section (input_dim 3)."""
    dim, sd, nd, nr, mlp = cfg["dim"], cfg["style_dim"], cfg["n_downsample"], cfg["n_res"], cfg["mlp_dim"]
    keys: dict[str, tuple[int, ...]] = {}

    def conv(prefix: str, cin: int, cout: int, k: int, norm: str | None = None) -> None:
        keys[f"{prefix}.conv.weight"], keys[f"{prefix}.conv.bias"] = (cout, cin, k, k), (cout,)
        if norm == "in":
            keys[f"{prefix}.norm.running_mean"], keys[f"{prefix}.norm.running_var"] = (cout,), (cout,)
            keys[f"{prefix}.norm.num_batches_tracked"] = ()
        elif norm == "adain":
            keys[f"{prefix}.norm.running_mean"], keys[f"{prefix}.norm.running_var"] = (cout,), (cout,)
        elif norm == "ln":
            keys[f"{prefix}.norm.gamma"], keys[f"{prefix}.norm.beta"] = (cout,), (cout,)

    # style encoder (no norm)
    conv("enc_style.model.0", 3, dim, 7)
    d = dim
    for i in (1, 2):
        conv(f"enc_style.model.{i}", d, 2 * d, 4)
        d *= 2
    for i in (3, 4):
        conv(f"enc_style.model.{i}", d, d, 4)
    keys["enc_style.model.6.weight"], keys["enc_style.model.6.bias"] = (sd, d, 1, 1), (sd,)
    # content encoder (instance norm)
    conv("enc_content.model.0", 3, dim, 7, "in")
    d = dim
    for i in range(1, nd + 1):
        conv(f"enc_content.model.{i}", d, 2 * d, 4, "in")
        d *= 2
    for r in range(nr):
        for j in (0, 1):
            conv(f"enc_content.model.{nd + 1}.model.{r}.model.{j}", d, d, 3, "in")
    # decoder
    for r in range(nr):
        for j in (0, 1):
            conv(f"dec.model.0.model.{r}.model.{j}", d, d, 3, "adain")
    for s in range(nd):
        conv(f"dec.model.{2 + 2 * s}", d, d // 2, 5, "ln")
        d //= 2
    conv(f"dec.model.{1 + 2 * nd}", d, 3, 7)
    # MLP
    n_adain = 2 * 2 * nr * dim * 2 ** nd
    for i, (cin, cout) in enumerate(((sd, mlp), (mlp, mlp), (mlp, n_adain))):
        keys[f"mlp.model.{i}.fc.weight"], keys[f"mlp.model.{i}.fc.bias"] = (cout, cin), (cout,)
    return keys


def random_generator(cfg: dict, seed: int) -> dict[str, torch.Tensor]:
    """A random generator state dict in the official layout (running statistics and norms perturbed)."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for key, shape in official_keys(cfg).items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            sd[key] = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith(("running_mean", "beta", "bias")):
            sd[key] = 0.1 * torch.randn(shape, generator=g)
        elif key.endswith("gamma"):
            sd[key] = torch.rand(shape, generator=g)
        else:  # conv / linear weights: He-like scale keeps activations O(1)
            fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
            sd[key] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
    last = f"dec.model.{1 + 2 * cfg['n_downsample']}.conv.weight"
    sd[last] = sd[last] * 0.3  # keep tanh out of saturation, so the comparison sees real values
    return sd


def _conv(sd: dict, prefix: str, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    w = sd[f"{prefix}.conv.weight"]
    p = w.shape[-1] // 2 if w.shape[-1] != 4 else 1
    return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), w, sd[f"{prefix}.conv.bias"], stride)


def _instance(sd: dict, prefix: str, x: torch.Tensor, running: bool) -> torch.Tensor:
    if running:
        mu, var = sd[f"{prefix}.norm.running_mean"][:, None, None], sd[f"{prefix}.norm.running_var"][:, None, None]
    else:
        mu = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    return (x - mu) / torch.sqrt(var + EPS)


def content_code(sd: dict, cfg: dict, x: torch.Tensor, running: bool) -> torch.Tensor:
    nd = cfg["n_downsample"]
    for i in range(nd + 1):
        x = F.relu(_instance(sd, f"enc_content.model.{i}", _conv(sd, f"enc_content.model.{i}", x, 1 if i == 0 else 2),
                             running))
    for r in range(cfg["n_res"]):
        p = f"enc_content.model.{nd + 1}.model.{r}.model"
        h = F.relu(_instance(sd, f"{p}.0", _conv(sd, f"{p}.0", x), running))
        x = x + _instance(sd, f"{p}.1", _conv(sd, f"{p}.1", h), running)
    return x


def style_code(sd: dict, x: torch.Tensor) -> torch.Tensor:
    for i in range(5):
        x = F.relu(_conv(sd, f"enc_style.model.{i}", x, 1 if i == 0 else 2))
    x = x.mean(dim=(2, 3), keepdim=True)
    return F.conv2d(x, sd["enc_style.model.6.weight"], sd["enc_style.model.6.bias"]).flatten(1)


def decode(sd: dict, cfg: dict, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    h = F.relu(F.linear(style, sd["mlp.model.0.fc.weight"], sd["mlp.model.0.fc.bias"]))
    h = F.relu(F.linear(h, sd["mlp.model.1.fc.weight"], sd["mlp.model.1.fc.bias"]))
    params = F.linear(h, sd["mlp.model.2.fc.weight"], sd["mlp.model.2.fc.bias"])
    x, used = content, 0

    def adain(y: torch.Tensor) -> torch.Tensor:
        nonlocal used
        c = y.shape[1]
        b, w = params[:, used:used + c], params[:, used + c:used + 2 * c]
        used += 2 * c
        mu = y.mean(dim=(2, 3), keepdim=True)
        var = y.var(dim=(2, 3), unbiased=False, keepdim=True)
        return w[:, :, None, None] * (y - mu) / torch.sqrt(var + EPS) + b[:, :, None, None]

    for r in range(cfg["n_res"]):
        p = f"dec.model.0.model.{r}.model"
        h = F.relu(adain(_conv(sd, f"{p}.0", x)))
        x = x + adain(_conv(sd, f"{p}.1", h))
    for s in range(cfg["n_downsample"]):
        p = f"dec.model.{2 + 2 * s}"
        y = _conv(sd, p, F.interpolate(x, scale_factor=2, mode="nearest"))
        flat = y.flatten(1)
        y = (y - flat.mean(1)[:, None, None, None]) / (flat.std(1)[:, None, None, None] + EPS)
        x = F.relu(y * sd[f"{p}.norm.gamma"][:, None, None] + sd[f"{p}.norm.beta"][:, None, None])
    return torch.tanh(_conv(sd, f"dec.model.{1 + 2 * cfg['n_downsample']}", x))


def translate(source: dict, target: dict, cfg: dict, image01: torch.Tensor, style: torch.Tensor,
              running: bool) -> torch.Tensor:
    """``image01`` (``[0, 1]``, sides multiples of ``2**n_downsample``) to the target domain, in ``[0, 1]``."""
    out = decode(target, cfg, content_code(source, cfg, image01 * 2 - 1, running).expand(len(style), -1, -1, -1),
                 style)
    return ((out + 1) / 2).clamp(0, 1)
