"""MUNIT generators (Huang et al., ECCV 2018, "Multimodal Unsupervised Image-to-Image Translation").

Re-implemented from the paper and the layer order of the official code (NVlabs/MUNIT,
``networks.py``); module and parameter names equal the official ones, so the two
generators of an official ``gen_XXXXXXXX.pt`` (``{"a": state_dict, "b": state_dict}`` of
``AdaINGen``) load as they are: ``MUNIT(config).gen_a.load_state_dict(ckpt["a"])``.

Per domain, one :class:`AdaINGen`:

- ``enc_content`` (:class:`ContentEncoder`): a 7x7 convolution, ``n_downsample`` stride-2
  4x4 convolutions (channels doubling), ``n_res`` residual blocks; instance norm and the
  activation after every convolution (not after a residual block's second one);
- ``enc_style`` (:class:`StyleEncoder`): a 7x7 convolution, two stride-2 convolutions
  doubling the channels, two more keeping them, global average pooling and a 1x1
  convolution to the ``style_dim`` code; no normalisation;
- ``mlp`` (:class:`MLP`): three linear layers from the style code to every AdaIN
  layer's parameters;
- ``dec`` (:class:`Decoder`): ``n_res`` residual blocks whose norms are AdaIN, then per
  down-sampling step a nearest x2 upsampling and a 5x5 convolution halving the channels
  with layer norm, then a 7x7 convolution to the image with ``tanh``.

Convention:
    The generators work in the official value range: images ``Bx3xHxW`` RGB in
    ``[-1, 1]`` (``x01 * 2 - 1``), style codes ``Bx style_dim x1x1`` (the prior is
    ``N(0, I)``), content codes ``Bx(dim * 2**n_downsample)x(H/2**n)x(W/2**n)``. The
    AdaIN parameters of one image are ``[bias_1, weight_1, bias_2, weight_2, ...]`` with
    ``C`` values each, in the decoder's module order (the official assignment: the first
    ``C`` values are the mean, the next ``C`` the standard deviation). The content and
    style encoders floor odd sizes (a stride-2 4x4 convolution with padding 1), so the
    decoder returns ``H`` and ``W`` rounded down to a multiple of ``2**n_downsample``;
    :class:`Translator` pads its input to such a multiple and crops the result.

    ``content_norm`` chooses the content encoder's normalisation at inference:
    ``"instance"`` (the paper: each image's own statistics, in training and inference)
    or ``"running"`` (what the official code computes in ``eval()`` mode on PyTorch >=
    0.4, where its ``InstanceNorm2d(track_running_stats=True)`` uses the stored running
    statistics). Training always uses each image's statistics and updates the running ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

#: Official names of the choices in the YAML ``gen:`` section.
ACTIVATIONS = ("relu", "lrelu", "prelu", "selu", "tanh", "none")
PAD_TYPES = ("reflect", "replicate", "zero")
CONTENT_NORMS = ("instance", "running")
#: Style encoder down-sampling steps (the official AdaINGen hard-codes 4).
STYLE_DOWNSAMPLE = 4
#: Normalisation epsilon of every norm (official: 1e-5).
EPS = 1e-5


@dataclass(frozen=True)
class MUNITConfig:
    """Shape of a :class:`MUNIT` pair of generators (the official YAML ``gen:`` keys plus names).

    Attributes:
        dim: channels of the first convolution (official default 64).
        mlp_dim: hidden width of the style MLP (official 256).
        style_dim: length of the style code (paper and official: 8).
        n_downsample: stride-2 steps of the content encoder, and upsamplings of the decoder (2).
        n_res: residual blocks of the content encoder and of the decoder (4).
        activ: activation, one of :data:`ACTIVATIONS` (official ``relu``).
        pad_type: padding of every convolution, one of :data:`PAD_TYPES` (official ``reflect``).
        content_norm: the content encoder's inference normalisation, one of
            :data:`CONTENT_NORMS` (see the module's Convention).
        domain_a, domain_b: display names of the two domains (``impasto translate --to``).
    """

    dim: int = 64
    mlp_dim: int = 256
    style_dim: int = 8
    n_downsample: int = 2
    n_res: int = 4
    activ: str = "relu"
    pad_type: str = "reflect"
    content_norm: str = "instance"
    domain_a: str = "a"
    domain_b: str = "b"

    def __post_init__(self) -> None:
        for name in ("dim", "mlp_dim", "style_dim"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"expected {name} to be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("n_downsample", "n_res"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"expected {name} to be an integer >= 0, got {getattr(self, name)!r}")
        for name, choices in (("activ", ACTIVATIONS), ("pad_type", PAD_TYPES), ("content_norm", CONTENT_NORMS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"expected {name} among {list(choices)}, got {getattr(self, name)!r}")
        if not self.domain_a or not self.domain_b or self.domain_a == self.domain_b:
            raise ValueError(f"expected two different non-empty domain names, got {self.domain_a!r} "
                             f"and {self.domain_b!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def multiple(self) -> int:
        """Image sides the content path keeps exactly: multiples of ``2**n_downsample``."""
        return 2 ** self.n_downsample


def _activation(name: str) -> nn.Module | None:
    return {"relu": lambda: nn.ReLU(), "lrelu": lambda: nn.LeakyReLU(0.2), "prelu": lambda: nn.PReLU(),
            "selu": lambda: nn.SELU(), "tanh": lambda: nn.Tanh(), "none": lambda: None}[name]()


def _padding(pad_type: str, amount: int) -> nn.Module:
    return {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": nn.ZeroPad2d}[pad_type](amount)


class ContentInstanceNorm(nn.InstanceNorm2d):
    """Instance norm without affine parameters that keeps the official running-statistics buffers.

    Training and ``use_running=False`` normalise each image by its own statistics; with
    ``use_running=True`` inference uses the stored running mean and variance (the official
    code's ``eval()`` behaviour).
    """

    def __init__(self, channels: int, use_running: bool) -> None:
        super().__init__(channels, eps=EPS, affine=False, track_running_stats=True)
        self.use_running = use_running

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not self.use_running:
            running = (self.running_mean, self.running_var) if self.training else (None, None)
            return F.instance_norm(x, *running, use_input_stats=True, momentum=self.momentum, eps=self.eps)
        scale = torch.rsqrt(self.running_var + self.eps)
        return (x - self.running_mean[:, None, None]) * scale[:, None, None]


class AdaptiveInstanceNorm2d(nn.Module):
    """AdaIN: instance-normalised features times a per-image weight plus a per-image bias (both given)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features
        # unused; kept so the official state dicts load as they are
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``x`` ``BxCxHxW``, ``params`` ``Bx2C`` (bias then weight); biased variance, as batch norm."""
        c = self.num_features
        bias, weight = params[:, :c, None, None], params[:, c:2 * c, None, None]
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True)
        return (x - mean) * torch.rsqrt(var + EPS) * weight + bias


class LayerNorm(nn.Module):
    """The official layer norm: per image over ``C, H, W``, ``(x - mean) / (std + eps)`` (unbiased std)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.gamma = nn.Parameter(torch.rand(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(dim=1)[:, None, None, None]
        std = flat.std(dim=1)[:, None, None, None]
        return (x - mean) / (std + EPS) * self.gamma[:, None, None] + self.beta[:, None, None]


class Conv2dBlock(nn.Module):
    """Padding, convolution, optional norm, optional activation (official attribute names)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, *, norm: str, activ: str,
                 pad_type: str, content_norm: str = "instance") -> None:
        super().__init__()
        self.pad = _padding(pad_type, padding)
        self.norm: nn.Module | None = {
            "in": lambda: ContentInstanceNorm(cout, content_norm == "running"),
            "ln": lambda: LayerNorm(cout), "adain": lambda: AdaptiveInstanceNorm2d(cout), "none": lambda: None,
        }[norm]()
        self.activation = _activation(activ)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor, adain: torch.Tensor | None = None) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if isinstance(self.norm, AdaptiveInstanceNorm2d):
            x = self.norm(x, adain)
        elif self.norm is not None:
            x = self.norm(x)
        return self.activation(x) if self.activation is not None else x


class ResBlock(nn.Module):
    """Two 3x3 conv blocks (the second without activation) plus the input."""

    def __init__(self, dim: int, *, norm: str, activ: str, pad_type: str, content_norm: str = "instance") -> None:
        super().__init__()
        self.model = nn.Sequential(
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activ=activ, pad_type=pad_type, content_norm=content_norm),
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activ="none", pad_type=pad_type, content_norm=content_norm))

    def forward(self, x: torch.Tensor, adain: torch.Tensor | None = None) -> torch.Tensor:
        """``adain``: ``Bx4C`` for an AdaIN block (first conv's bias and weight, then the second's)."""
        first, second = self.model
        c = first.conv.out_channels
        a1, a2 = (None, None) if adain is None else (adain[:, :2 * c], adain[:, 2 * c:4 * c])
        return x + second(first(x, a1), a2)


class ResBlocks(nn.Module):
    """``num_blocks`` residual blocks in a row (official ``ResBlocks``: an ``nn.Sequential`` in ``model``)."""

    def __init__(self, num_blocks: int, dim: int, *, norm: str, activ: str, pad_type: str,
                 content_norm: str = "instance") -> None:
        super().__init__()
        self.model = nn.Sequential(*[ResBlock(dim, norm=norm, activ=activ, pad_type=pad_type,
                                              content_norm=content_norm) for _ in range(num_blocks)])

    def forward(self, x: torch.Tensor, adain: torch.Tensor | None = None) -> torch.Tensor:
        for i, block in enumerate(self.model):
            c = block.model[0].conv.out_channels
            x = block(x, None if adain is None else adain[:, 4 * c * i:4 * c * (i + 1)])
        return x


class StyleEncoder(nn.Module):
    """Image ``[-1, 1]`` -> style code ``B x style_dim x1x1`` (down-sampling, global average pooling, 1x1 conv)."""

    def __init__(self, config: MUNITConfig) -> None:
        super().__init__()
        dim, kw = config.dim, {"norm": "none", "activ": config.activ, "pad_type": config.pad_type}
        layers: list[nn.Module] = [Conv2dBlock(3, dim, 7, 1, 3, **kw)]
        for _ in range(2):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, **kw))
            dim *= 2
        layers += [Conv2dBlock(dim, dim, 4, 2, 1, **kw) for _ in range(STYLE_DOWNSAMPLE - 2)]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, config.style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContentEncoder(nn.Module):
    """Image ``[-1, 1]`` -> content code (down-sampling convolutions and residual blocks with instance norm)."""

    def __init__(self, config: MUNITConfig) -> None:
        super().__init__()
        dim = config.dim
        kw = {"norm": "in", "activ": config.activ, "pad_type": config.pad_type, "content_norm": config.content_norm}
        layers: list[nn.Module] = [Conv2dBlock(3, dim, 7, 1, 3, **kw)]
        for _ in range(config.n_downsample):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, **kw))
            dim *= 2
        layers.append(ResBlocks(config.n_res, dim, **kw))
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """Content code + AdaIN parameters -> image ``[-1, 1]`` (AdaIN residual blocks, upsampling, tanh)."""

    def __init__(self, config: MUNITConfig, dim: int) -> None:
        super().__init__()
        activ, pad = config.activ, config.pad_type
        layers: list[nn.Module] = [ResBlocks(config.n_res, dim, norm="adain", activ=activ, pad_type=pad)]
        for _ in range(config.n_downsample):
            layers += [nn.Upsample(scale_factor=2),
                       Conv2dBlock(dim, dim // 2, 5, 1, 2, norm="ln", activ=activ, pad_type=pad)]
            dim //= 2
        layers.append(Conv2dBlock(dim, 3, 7, 1, 3, norm="none", activ="tanh", pad_type=pad))
        self.model = nn.Sequential(*layers)

    def forward(self, content: torch.Tensor, adain: torch.Tensor) -> torch.Tensor:
        x = self.model[0](content, adain)
        for layer in self.model[1:]:
            x = layer(x)
        return x


class LinearBlock(nn.Module):
    """A linear layer and an optional activation (official attribute names)."""

    def __init__(self, cin: int, cout: int, activ: str) -> None:
        super().__init__()
        self.fc = nn.Linear(cin, cout)
        self.activation = _activation(activ)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        return self.activation(x) if self.activation is not None else x


class MLP(nn.Module):
    """Style code -> AdaIN parameters: three linear layers, no activation after the last."""

    def __init__(self, cin: int, cout: int, width: int, activ: str) -> None:
        super().__init__()
        self.model = nn.Sequential(LinearBlock(cin, width, activ), LinearBlock(width, width, activ),
                                   LinearBlock(width, cout, "none"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.flatten(1))


def adain_param_count(config: MUNITConfig) -> int:
    """Values the MLP produces: ``2 * C`` per AdaIN layer, two layers per decoder residual block."""
    return 4 * config.n_res * config.dim * 2 ** config.n_downsample


class AdaINGen(nn.Module):
    """One domain's generator: content and style encoders, the style MLP and the AdaIN decoder."""

    def __init__(self, config: MUNITConfig) -> None:
        super().__init__()
        self.enc_style = StyleEncoder(config)
        self.enc_content = ContentEncoder(config)
        self.dec = Decoder(config, self.enc_content.output_dim)
        self.mlp = MLP(config.style_dim, adain_param_count(config), config.mlp_dim, config.activ)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(content, style)`` codes of images in ``[-1, 1]``."""
        return self.enc_content(images), self.enc_style(images)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Image in ``[-1, 1]`` from a content code and a style code (``B x style_dim`` or ``...x1x1``)."""
        return self.dec(content, self.mlp(style))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``images`` from their own codes."""
        content, style = self.encode(images)
        return self.decode(content, style)


class MUNIT(nn.Module):
    """The two generators, ``gen_a`` (domain a) and ``gen_b`` (domain b), as the official trainer holds them."""

    def __init__(self, config: MUNITConfig) -> None:
        super().__init__()
        self.config = config
        self.gen_a = AdaINGen(config)
        self.gen_b = AdaINGen(config)

    def generator(self, domain: str) -> AdaINGen:
        """``gen_a`` for ``"a"``, ``gen_b`` for ``"b"``."""
        if domain not in ("a", "b"):
            raise ValueError(f"expected domain 'a' or 'b', got {domain!r}")
        return self.gen_a if domain == "a" else self.gen_b

    def translate(self, images: torch.Tensor, style: torch.Tensor, to: str) -> torch.Tensor:
        """Images ``[-1, 1]`` of the other domain -> domain ``to`` with style codes ``style`` (same batch)."""
        source = self.generator("b" if to == "a" else "a")
        return self.generator(to).decode(source.enc_content(images), style)

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_ab, x_ba)``: each batch translated with the other batch's style codes."""
        c_a, s_a = self.gen_a.encode(x_a)
        c_b, s_b = self.gen_b.encode(x_b)
        return self.gen_b.decode(c_a, s_b), self.gen_a.decode(c_b, s_a)


class Translator(nn.Module):
    """One direction as one graph: source image, target-domain reference and style codes -> translated images.

    Convention:
        ``image`` ``1x3xHxW`` (source domain) and ``reference`` ``1x3xH'xW'`` (target
        domain) RGB in ``[0, 1]``; ``style`` ``N x style_dim``; ``reference_weight`` shape
        ``(1,)``. The decoder runs once per row of ``codes = style + reference_weight *
        style_of(reference)``: random styles are ``style`` drawn from ``N(0, I)`` with weight
        0; the reference's style is ``style = 0`` with weight 1. The image is padded (edge
        replication) at its bottom and right to a multiple of ``2**n_downsample`` and the result cropped
        back to ``HxW``. Outputs: ``translated`` ``Nx3xHxW`` in ``[0, 1]`` and
        ``reference_style`` ``1 x style_dim``.
    """

    def __init__(self, net: MUNIT, to: str) -> None:
        super().__init__()
        self.source = net.generator("b" if to == "a" else "a")
        self.target = net.generator(to)
        self.multiple = net.config.multiple

    def forward(self, image: torch.Tensor, reference: torch.Tensor, style: torch.Tensor,
                reference_weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = image.shape[2], image.shape[3]
        pad_h, pad_w = (-h) % self.multiple, (-w) % self.multiple
        padded = F.pad(image * 2 - 1, (0, pad_w, 0, pad_h), mode="replicate")
        content = self.source.enc_content(padded)
        ref_style = self.target.enc_style(reference * 2 - 1).flatten(1)
        codes = style + reference_weight * ref_style
        out = self.target.decode(content.expand(codes.shape[0], -1, -1, -1), codes)
        out = (out[:, :, :h, :w] + 1) / 2
        return out.clamp(0, 1), ref_style
