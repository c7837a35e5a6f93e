"""Training configurations, one frozen dataclass per method, whose fields declare their flags (torch-free).

A field declared with :func:`flag` is an ``impasto train METHOD`` flag
(:mod:`impasto.cli.train_flags`), so a setting, its default and its help live in one
place. A configuration is stored in its checkpoints as ``train_config``.

Convention:
    A flag is ``--`` + the field name with ``_`` as ``-``, unless :class:`Flag` names it;
    a field without a default is a required flag; a ``bool`` field that defaults to True
    is a ``--no-...`` switch; a tuple field takes comma-separated values. :func:`validate`
    checks every flag's ``minimum`` (of each item of a tuple) and ``choices``.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from impasto.errors import UserError

#: Choices checked here without torch; tests check them against the models' own.
FEEDFORWARD_PRESETS = ("johnson", "fast")
MULTIMODAL_PRESETS = ("cpu", "paper")
UPSAMPLE_MODES = ("bilinear", "nearest")
LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
KINDS = ("photo", "artistic")
LR_SCHEDULES = ("cosine", "constant")
#: The cosine schedule ends at this fraction of ``lr``.
LR_FINAL_FRACTION = 0.05

_STABILITY = ("weight of the stability term (impasto.training.stability: the output of a slightly moved, noisy "
              "input must follow the motion and amplify the noise little; 0 = off)")

_SUBPIXEL = ("draw the stability term's shifts as real numbers and apply them as Fourier (phase) shifts, which "
             "do not blur; trains the texture to follow the sub-pixel motion of real video")


@dataclass(frozen=True)
class Flag:
    """How a configuration field appears on the command line.

    Attributes:
        help: the help text (None: none).
        minimum: the smallest value accepted (None: any).
        choices: the accepted values.
        metavar: the value's name in the help.
        name: the flag, when not derived from the field name (``--no-amp``).
    """

    help: str | None = None
    minimum: float | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    name: str | None = None


def flag(default: Any = MISSING, **kwargs: Any) -> Any:
    """A dataclass field with a :class:`Flag` (``kwargs``) in its metadata."""
    return field(default=default, metadata={"flag": Flag(**kwargs)})


def validate(cfg: Any) -> None:
    """Refuse a flag's value below its ``minimum`` or outside its ``choices``, and a bad ``device``.

    Raises:
        UserError: naming the flag, what it expects and what it got.
    """
    for f in fields(cfg):
        spec, value = f.metadata.get("flag"), getattr(cfg, f.name)
        if spec is None or value is None:
            continue
        name = spec.name or f"--{f.name.replace('_', '-')}"
        if spec.minimum is not None and min(value if isinstance(value, tuple) else (value,)) < spec.minimum:
            raise UserError(f"{name}: expected {f.name} >= {spec.minimum:g}, got {value}")
        if spec.choices is not None and value not in spec.choices:
            raise UserError(f"{name}: expected one of {', '.join(spec.choices)}, got {value!r}")
    if cfg.device not in ("cpu", "cuda") and not cfg.device.startswith("cuda:"):
        raise UserError(f"--device: expected cpu or cuda, got {cfg.device!r}")


_DATA = "folder of content photos (recursive)"
_STYLE = "style image (a painting)"
_STYLE_NAME = "name recorded in the model card (default: the style file's stem)"
_CROP = "training crop size in pixels"
_DEVICE = "cpu or cuda"


@dataclass(frozen=True)
class FeedForwardConfig:
    """Everything that defines a feed-forward training run."""

    style: str = flag(help=_STYLE)
    data: str = flag(help=_DATA)
    iters: int = flag(2000, minimum=1)
    size: int = flag(256, minimum=16, help=_CROP)
    batch: int = flag(4, minimum=1)
    lr: float = flag(1e-3, minimum=0)
    preset: str = flag("johnson", choices=FEEDFORWARD_PRESETS,
                       help="network size; 'fast' is the CPU-friendly variant")
    width: int | None = flag(None, minimum=1, help="override the preset's base width")
    n_residual: int | None = flag(None, minimum=0, help="override the preset's residual block count")
    content_weight: float = flag(1.0, minimum=0)
    style_weight: float = flag(5.0, minimum=0)
    tv_weight: float = flag(0.1, minimum=0)
    style_size: int | None = flag(None, minimum=1, help="longest side of the style image (default 1.5 x size)")
    stability_weight: float = flag(0.0, minimum=0, help=_STABILITY)
    stability_shift: int = flag(3, minimum=0, help="largest shift of the stability term's motion, pixels")
    stability_noise: float = flag(0.02, minimum=1e-4, help="noise of the stability term's perturbation ([0, 1] units)")
    stability_subpixel: bool = flag(False, help=_SUBPIXEL)
    style_name: str | None = flag(None, help=_STYLE_NAME)
    device: str = flag("cpu", help=_DEVICE)
    amp: bool = flag(True, name="--no-amp", help="disable bf16 autocast on CUDA")
    seed: int = flag(0)
    checkpoint_every: int = flag(200, minimum=1)
    preview_every: int = flag(500, minimum=1)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def model_config(self) -> Any:
        """The :class:`impasto.models.transformer.TransformerConfig` of the preset and overrides."""
        from impasto.models.transformer import PRESETS, TransformerConfig

        base = PRESETS[self.preset]
        return TransformerConfig(width=self.width or base.width,
                                 n_residual=base.n_residual if self.n_residual is None else self.n_residual)

    @property
    def resolved_style_name(self) -> str:
        return self.style_name or Path(self.style).stem


@dataclass(frozen=True)
class BankTrainConfig:
    """Everything that defines a style-bank training run (see :mod:`impasto.training.bank`)."""

    styles: tuple[str, ...] = flag(help="comma-separated style images (paintings)")
    data: str = flag(help=_DATA)
    style_names: tuple[str, ...] | None = flag(
        None, help="comma-separated names, one per style (default: the files' stems)")
    iters: int = flag(4000, minimum=1)
    size: int = flag(160, minimum=16, help=_CROP)
    batch: int = flag(2, minimum=1)
    lr: float = flag(2e-3, minimum=0)
    content_weight: float = flag(1.0, minimum=0)
    style_weight: float = flag(1.0, minimum=0)
    tv_weight: float = flag(0.1, minimum=0)
    alpha_max: float = flag(2.0, minimum=0, help="loss weights are sampled in [0, alpha-max]")
    p_default: float = flag(0.25, minimum=0, help="probability that a batch uses the default loss weights (all 1)")
    ema_decay: float = 0.98
    style_size: int | None = flag(None, minimum=1, help="longest side of the style images (default 1.5 x size)")
    style_scales: tuple[float, ...] = flag(
        (1.0,), minimum=0.1, help="comma-separated scales of the style loss: each style layer's loss is the mean over "
        "the output and painting both resized by each scale (e.g. 1,0.5 also matches the painting's large structure)")
    stability_weight: float = flag(0.0, minimum=0, help=_STABILITY)
    stability_shift: int = flag(3, minimum=0, help="largest shift of the stability term's motion, pixels")
    stability_noise: float = flag(0.02, minimum=1e-4, help="noise of the stability term's perturbation ([0, 1] units)")
    stability_subpixel: bool = flag(False, help=_SUBPIXEL)
    widths: tuple[int, int] = flag((16, 48), minimum=1, help="channels at 1/2 and 1/4 resolution")
    n_residual: int = flag(3, minimum=0)
    hidden: int = 16
    upsample: str = flag("bilinear", choices=UPSAMPLE_MODES, help="resize mode before each upsampling convolution")
    lr_schedule: str = flag("cosine", choices=LR_SCHEDULES, help="cosine: from --lr down to --lr / 20 over --iters")
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(200, minimum=1)
    preview_every: int = flag(200, minimum=1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(str(s) for s in self.styles))
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "style_scales", tuple(float(s) for s in self.style_scales))
        if self.style_names is not None:
            object.__setattr__(self, "style_names", tuple(self.style_names))
        if len(self.styles) < 1:
            raise UserError("--styles: expected at least one style image, got none")
        validate(self)
        if self.p_default > 1.0 or self.alpha_max <= 0 or not 0.0 < self.ema_decay < 1.0:
            raise UserError(f"train bank: expected p_default in [0, 1], alpha_max > 0, ema_decay in (0, 1), got "
                            f"{self.p_default}, {self.alpha_max}, {self.ema_decay}")
        if not self.style_scales or max(self.style_scales) > 1.0:
            raise UserError(f"--style-scales: expected one or more scales in [0.1, 1], got {list(self.style_scales)}")
        names = self.resolved_style_names
        if len(names) != len(self.styles):
            raise UserError(f"--style-names: expected {len(self.styles)} names, got {len(names)}")
        bad = [n for n in names if not n or any(c in n for c in ",:= ")]
        if bad or len(set(names)) != len(names):
            raise UserError(f"--style-names: expected unique names without ',', ':', '=' or spaces, got {list(names)}")

    @property
    def resolved_style_names(self) -> tuple[str, ...]:
        if self.style_names is not None:
            return self.style_names
        return tuple(Path(s).stem for s in self.styles)

    @property
    def model_config(self) -> Any:
        """The :class:`impasto.models.style_bank.StyleBankConfig` of this run."""
        from impasto.models.style_bank import StyleBankConfig

        return StyleBankConfig(n_styles=len(self.styles), widths=self.widths, n_residual=self.n_residual,
                               hidden=self.hidden, upsample=self.upsample)

    def lr_at(self, it: int) -> float:
        """Learning rate of iteration ``it`` (1-based): constant, or cosine from ``lr`` down to ``lr / 20``."""
        if self.lr_schedule == "constant":
            return self.lr
        t = min(max(it - 1, 0) / max(self.iters - 1, 1), 1.0)
        return self.lr * (LR_FINAL_FRACTION + (1 - LR_FINAL_FRACTION) * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass(frozen=True)
class MultimodalTrainConfig:
    """Everything that defines an MT-Net training run (see :mod:`impasto.training.multimodal`).

    Attributes:
        size: side of the training crops = the finest output's side (paper: 1024).
        loss_crop: side of the window the VGG16 losses see at each scale (0: whole outputs).
        scale_weights: ``lambda_k`` for the outputs, coarse to fine (paper: 1, 0.5, 0.25).
        style_scale: the style image's longest side, as a multiple of each output's side.
        max_scale: upper bound of the random zoom of the photos.
    """

    style: str = flag(help=_STYLE)
    data: str = flag(help="folder of content photos (recursive; >= 1024 px ones are best)")
    iters: int = flag(1000, minimum=1)
    size: int = flag(1024, minimum=64, help="training crop side = finest output's side; the others are size/2 "
                                            "and size/4 (default 1024)")
    loss_crop: int = flag(256, help="side of the window the VGG losses see at each scale; 0 = whole outputs "
                                    "(default 256)")
    batch: int = flag(1, minimum=1)
    lr: float = flag(1e-3, minimum=0)
    preset: str = flag("cpu", choices=MULTIMODAL_PRESETS,
                       help="network widths: 'paper' (32 channels everywhere) or the CPU-trainable 'cpu'")
    content_weight: float = flag(1.0, minimum=0)
    style_weight: float = flag(5.0, minimum=0)
    tv_weight: float = flag(0.1, minimum=0)
    scale_weights: tuple[float, float, float] = flag(
        (1.0, 0.5, 0.25), minimum=0, metavar="L1,L2,L3",
        help="lambda_k of the 256/512/1024 outputs' losses (default 1,0.5,0.25 as in the paper)")
    style_scale: float = flag(1.0, minimum=0,
                              help="style image's longest side as a multiple of each output's side (default 1)")
    max_scale: float = flag(1.25, minimum=1, help="largest random zoom of the photos")
    style_name: str | None = flag(None, help=_STYLE_NAME)
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(50, minimum=1)
    preview_every: int = flag(100, minimum=1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale_weights", tuple(self.scale_weights))
        if len(self.scale_weights) != 3:
            raise UserError(f"--scale-weights: expected three non-negative numbers, got {self.scale_weights}")
        validate(self)
        if self.size % 4:
            raise UserError(f"--size: expected size >= 64 divisible by 4, got {self.size}")
        if self.loss_crop < 0 or 0 < self.loss_crop < 32:
            raise UserError(f"--loss-crop: expected 0 (whole outputs) or >= 32 pixels, got {self.loss_crop}")
        if self.style_scale <= 0:
            raise UserError(f"--style-scale: expected a number > 0, got {self.style_scale}")

    @property
    def model_config(self) -> Any:
        """The preset's :class:`impasto.models.multimodal.MultimodalConfig`."""
        from impasto.models.multimodal import PRESETS

        return PRESETS[self.preset]

    @property
    def output_sides(self) -> tuple[int, int, int]:
        return self.size // 4, self.size // 2, self.size

    @property
    def resolved_style_name(self) -> str:
        return self.style_name or Path(self.style).stem


@dataclass(frozen=True)
class DecoderTrainConfig:
    """Everything that defines a WCT / PhotoWCT decoder training run (see :mod:`impasto.training.decoder`)."""

    level: str = flag(choices=LEVELS)
    data: str = flag(help=_DATA)
    kind: str = flag("photo", choices=KINDS, help="photo: unpools with the encoder's pooling indices (PhotoWCT); "
                                                  "artistic: upsamples (WCT)")
    refine: int = flag(0, minimum=0, help="extra 3x3 convolutions after each upsampling (0-3; more capacity, "
                                           "slower; artistic decoders gain most)")
    iters: int = flag(1500, minimum=1)
    size: int = flag(192, minimum=32, help=_CROP)
    batch: int = flag(4, minimum=1)
    lr: float = flag(1e-3, minimum=0)
    pixel_weight: float = flag(1.0, minimum=0, help="weight of the pixel MSE")
    feature_weight: float = flag(0.02, minimum=0, help="weight of the relative feature error at the decoder's "
                                                       "level (0: pixel loss only)")
    holdout: int = flag(10, minimum=0, help="images of --data never trained on (held-out PSNR)")
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(100, minimum=1)
    preview_every: int = flag(100, minimum=1)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def model_config(self) -> Any:
        """The :class:`impasto.models.photowct.DecoderConfig` of this run."""
        from impasto.models.photowct import DecoderConfig

        return DecoderConfig(level=self.level, kind=self.kind, refine=self.refine)


@dataclass(frozen=True)
class WarpNetTrainConfig:
    """Everything that defines a warp-network training run (see :mod:`impasto.training.warpnet`)."""

    data: str = flag(help=_DATA)
    iters: int = flag(600, minimum=1)
    size: int = flag(192, minimum=1, help="working square side in pixels, a multiple of 16 (pool4 grid = size/16)")
    steps: int = flag(3, minimum=1, help="refinement steps K")
    hidden: int = flag(128, minimum=1, help="width of the head CNN f")
    encoder: str = flag("relu4_1", choices=("relu4_1", "pool4"),
                        help="VGG16 features: relu4_1 + 2x2 max-pool (shared with the WCT graphs) or pool4")
    batch: int = flag(4, minimum=1)
    lr: float = flag(5e-4, minimum=0)
    field_weight: float = flag(1.0, minimum=0, help="weight of the known-field L1 loss")
    window_weight: float = flag(0.1, minimum=0,
                                help="weight of the window-softmax matching loss (-log p over a 9x9 window)")
    smooth_weight: float = flag(0.2, help="weight of the field's total variation (0 turns it off)")
    window_radius: int = 4
    temperature: float = 0.05
    gamma: float = 0.8
    holdout: int = flag(8, minimum=0, help="images of --data never trained on (held-out EPE)")
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(50, minimum=1)
    preview_every: int = flag(100, minimum=1)

    def __post_init__(self) -> None:
        validate(self)
        self.model_config  # noqa: B018  (validates size, steps, hidden)
        if self.smooth_weight < 0 or self.field_weight + self.window_weight == 0:
            raise UserError(f"train warpnet: expected non-negative loss weights, field and window not both 0, got "
                            f"field={self.field_weight}, window={self.window_weight}, smooth={self.smooth_weight}")
        if self.window_radius < 1 or not self.temperature > 0 or not 0 < self.gamma <= 1:
            raise UserError(f"train warpnet: expected window radius >= 1, temperature > 0, 0 < gamma <= 1, got "
                            f"{self.window_radius}, {self.temperature}, {self.gamma}")

    @property
    def model_config(self) -> Any:
        """The :class:`impasto.models.warpnet.WarpNetConfig` of this run."""
        from impasto.models.warpnet import WarpNetConfig

        return WarpNetConfig(size=self.size, steps=self.steps, hidden=self.hidden, encoder=self.encoder)


#: MUNIT generator presets: (dim, mlp_dim, n_res). "paper" is the official config (30 M parameters, 120 MB);
#: "cpu" (1.24 M parameters) keeps a weights-only checkpoint of the generator pair under 5 MiB.
MUNIT_PRESETS = {"paper": (64, 256, 4), "cpu": (16, 64, 2)}


@dataclass(frozen=True)
class MunitTrainConfig:
    """Everything that defines a MUNIT training run (see :mod:`impasto.training.munit`).

    The loss weights are the official config's names without ``_w``: ``gan`` (adversarial),
    ``recon_x`` (image reconstruction), ``recon_s`` / ``recon_c`` (style / content latent
    reconstruction), ``recon_x_cyc`` (explicit style-augmented cycle, off by default) and
    ``vgg`` (domain-invariant perceptual loss, off by default). Adam uses the paper's betas
    (0.5, 0.999) and weight decay for both the generators and the discriminators.
    """

    domain_a: str = flag(help="folder of domain-A images (recursive), e.g. edges/ or photos/")
    domain_b: str = flag(help="folder of domain-B images (recursive), e.g. handbags/ or paintings/")
    iters: int = flag(1000, minimum=1)
    size: int = flag(128, minimum=64, help="training crop side in pixels, a multiple of 16 (default 128)")
    max_scale: float = flag(1.25, minimum=1, help="largest random zoom before cropping (default 1.25)")
    batch: int = flag(1, minimum=1)
    lr: float = flag(1e-4, minimum=0)
    preset: str = flag("cpu", choices=tuple(MUNIT_PRESETS),
                       help="generator widths: 'paper' (dim 64, mlp 256, 4 res blocks) or the CPU-sized 'cpu' "
                            "(16, 64, 2)")
    dim: int | None = flag(None, minimum=1, help="override the preset's generator base width")
    mlp_dim: int | None = flag(None, minimum=1, help="override the preset's MLP width")
    n_res: int | None = flag(None, minimum=1, help="override the preset's residual block count")
    style_dim: int = flag(8, minimum=1, help="style code length (paper: 8)")
    dis_dim: int = flag(32, minimum=1, help="discriminator base width (official: 64)")
    dis_layers: int = flag(4, minimum=1, help="stride-2 convolutions per discriminator scale (official: 4)")
    dis_scales: int = flag(3, minimum=1, help="discriminator scales (official: 3)")
    gan_weight: float = flag(1.0, minimum=0)
    recon_x_weight: float = flag(10.0, minimum=0, help="image reconstruction L1 weight (paper: 10)")
    recon_s_weight: float = flag(1.0, minimum=0, help="style-code reconstruction L1 weight (paper: 1)")
    recon_c_weight: float = flag(1.0, minimum=0, help="content-code reconstruction L1 weight (paper: 1)")
    recon_x_cyc_weight: float = flag(0.0, minimum=0, help="explicit style-augmented cycle L1 weight (0: off; "
                                                          "the official non-edge configs use 10)")
    vgg_weight: float = flag(0.0, minimum=0, help="domain-invariant perceptual loss weight (0: off; needs VGG16)")
    name_a: str = flag("a", help="domain A's name in the model card and the graphs (impasto translate --to)")
    name_b: str = flag("b", help="domain B's name in the model card and the graphs")
    preview_styles: int = flag(4, minimum=1, help="random styles per input in the preview sheet")
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(100, minimum=1)
    preview_every: int = flag(200, minimum=1)
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        validate(self)
        if self.size % 16:
            raise UserError(f"--size: expected a multiple of 16 (>= 64), got {self.size}")
        if self.size < 2 ** (self.dis_layers + self.dis_scales - 1):
            raise UserError(f"--size: expected >= {2 ** (self.dis_layers + self.dis_scales - 1)} for "
                            f"{self.dis_scales} discriminator scales of {self.dis_layers} layers, got {self.size}")
        if self.gan_weight + self.recon_x_weight == 0:
            raise UserError("train munit: expected --gan-weight or --recon-x-weight > 0, got both 0")
        bad = [n for n in (self.name_a, self.name_b) if not n or any(c in n for c in ",:= ")]
        if bad or self.name_a == self.name_b:
            raise UserError(f"--name-a/--name-b: expected two different names without ',', ':', '=' or spaces, "
                            f"got {self.name_a!r} and {self.name_b!r}")

    @property
    def generator_sizes(self) -> tuple[int, int, int]:
        """``(dim, mlp_dim, n_res)`` of the preset with the overrides."""
        dim, mlp_dim, n_res = MUNIT_PRESETS[self.preset]
        return self.dim or dim, self.mlp_dim or mlp_dim, self.n_res or n_res

    @property
    def model_config(self) -> Any:
        """The :class:`impasto.models.munit.MUNITConfig` of the preset, overrides and domain names."""
        from impasto.models.munit import MUNITConfig

        dim, mlp_dim, n_res = self.generator_sizes
        return MUNITConfig(dim=dim, mlp_dim=mlp_dim, style_dim=self.style_dim, n_res=n_res, domain_a=self.name_a,
                           domain_b=self.name_b)

    @property
    def discriminator_config(self) -> Any:
        """The :class:`impasto.models.munit_discriminator.MunitDiscriminatorConfig` of this run."""
        from impasto.models.munit_discriminator import MunitDiscriminatorConfig

        return MunitDiscriminatorConfig(dim=self.dis_dim, n_layer=self.dis_layers, num_scales=self.dis_scales)
