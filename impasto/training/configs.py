"""Training configurations, one frozen dataclass per method, whose fields declare their flags (torch-free).

A field becomes an ``impasto train METHOD`` flag when it is declared with :func:`flag`
(:mod:`impasto.cli.train_flags` turns the fields into argparse arguments), so a setting,
its default and its help live in one place. Every configuration is stored in its
checkpoints as ``train_config``; a resumed run must match it (see :mod:`impasto.training.loop`).

Convention:
    A flag is ``--`` + the field name with ``_`` as ``-``, unless :class:`Flag` names it;
    a field without a default is a required flag; a ``bool`` field that defaults to True
    is a ``--no-...`` switch. ``positive`` ints are >= 1, ``positive`` floats >= 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
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


@dataclass(frozen=True)
class Flag:
    """How a configuration field appears on the command line.

    Attributes:
        help: the help text (None: none).
        positive: ints must be >= 1, floats >= 0.
        choices: the accepted values.
        metavar: the value's name in the help.
        name: the flag, when not derived from the field name (``--no-amp``).
        parse: text -> value for structured values; raises ValueError with the message.
    """

    help: str | None = None
    positive: bool = False
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    name: str | None = None
    parse: Callable[[str], Any] | None = None


def flag(default: Any = MISSING, **kwargs: Any) -> Any:
    """A dataclass field with a :class:`Flag` (``kwargs``) in its metadata."""
    return field(default=default, metadata={"flag": Flag(**kwargs)})


def comma_list(text: str) -> tuple[str, ...]:
    """``"a.jpg, b.jpg"`` -> ``("a.jpg", "b.jpg")`` (empty items dropped)."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def int_pair(text: str) -> tuple[int, int]:
    """``"16,48"`` -> ``(16, 48)``, two positive integers."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"expected two integers like 16,48, got {text!r}") from None
    if len(values) != 2 or min(values) < 1:
        raise ValueError(f"expected two positive integers like 16,48, got {text!r}")
    return values  # type: ignore[return-value]


def float_triple(text: str) -> tuple[float, float, float]:
    """``"1,0.5,0.25"`` -> ``(1.0, 0.5, 0.25)``, three non-negative numbers."""
    try:
        values = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise ValueError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(values) != 3 or min(values) < 0:
        raise ValueError(f"expected three non-negative comma-separated numbers, got {text!r}")
    return values  # type: ignore[return-value]


def check_device(device: str) -> None:
    """Refuse a ``--device`` other than ``cpu``, ``cuda`` or ``cuda:N``."""
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"--device: expected cpu or cuda, got {device!r}")


def _check_choice(flag_name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"{flag_name}: expected one of {', '.join(choices)}, got {value!r}")


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
    iters: int = flag(2000, positive=True)
    size: int = flag(256, positive=True, help=_CROP)
    batch: int = flag(4, positive=True)
    lr: float = flag(1e-3, positive=True)
    preset: str = flag("johnson", choices=FEEDFORWARD_PRESETS,
                       help="network size; 'fast' is the CPU-friendly variant")
    width: int | None = flag(None, positive=True, help="override the preset's base width")
    n_residual: int | None = flag(None, help="override the preset's residual block count")
    content_weight: float = flag(1.0, positive=True)
    style_weight: float = flag(5.0, positive=True)
    tv_weight: float = flag(0.1, positive=True)
    style_size: int | None = flag(None, positive=True, help="longest side of the style image (default 1.5 x size)")
    style_name: str | None = flag(None, help=_STYLE_NAME)
    device: str = flag("cpu", help=_DEVICE)
    amp: bool = flag(True, name="--no-amp", help="disable bf16 autocast on CUDA")
    seed: int = flag(0)
    checkpoint_every: int = flag(200, positive=True)
    preview_every: int = flag(500, positive=True)

    def __post_init__(self) -> None:
        if self.iters < 1 or self.batch < 1 or self.size < 16:
            raise UserError(f"train: expected iters >= 1, batch >= 1, size >= 16, got "
                            f"iters={self.iters}, batch={self.batch}, size={self.size}")
        if self.preset not in FEEDFORWARD_PRESETS:
            raise UserError(f"--preset: expected one of {sorted(FEEDFORWARD_PRESETS)}, got {self.preset!r}")
        check_device(self.device)

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

    styles: tuple[str, ...] = flag(parse=comma_list, help="comma-separated style images (paintings)")
    data: str = flag(help=_DATA)
    style_names: tuple[str, ...] | None = flag(None, parse=comma_list,
                                               help="comma-separated names, one per style (default: the files' stems)")
    iters: int = flag(4000, positive=True)
    size: int = flag(160, positive=True, help=_CROP)
    batch: int = flag(2, positive=True)
    lr: float = flag(2e-3, positive=True)
    content_weight: float = flag(1.0, positive=True)
    style_weight: float = flag(1.0, positive=True)
    tv_weight: float = flag(0.1, positive=True)
    alpha_max: float = flag(2.0, positive=True, help="loss weights are sampled in [0, alpha-max]")
    p_default: float = flag(0.25, positive=True, help="probability that a batch uses the default loss weights (all 1)")
    ema_decay: float = 0.98
    style_size: int | None = flag(None, positive=True, help="longest side of the style images (default 1.5 x size)")
    widths: tuple[int, int] = flag((16, 48), parse=int_pair, help="channels at 1/2 and 1/4 resolution")
    n_residual: int = flag(3)
    hidden: int = 16
    upsample: str = flag("bilinear", choices=UPSAMPLE_MODES, help="resize mode before each upsampling convolution")
    lr_schedule: str = flag("cosine", choices=LR_SCHEDULES, help="cosine: from --lr down to --lr / 20 over --iters")
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(200, positive=True)
    preview_every: int = flag(200, positive=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(str(s) for s in self.styles))
        object.__setattr__(self, "widths", tuple(self.widths))
        if self.style_names is not None:
            object.__setattr__(self, "style_names", tuple(self.style_names))
        if len(self.styles) < 1:
            raise UserError("--styles: expected at least one style image, got none")
        if self.iters < 1 or self.batch < 1 or self.size < 16:
            raise UserError(f"train bank: expected iters >= 1, batch >= 1, size >= 16, got "
                            f"iters={self.iters}, batch={self.batch}, size={self.size}")
        if not 0.0 <= self.p_default <= 1.0 or self.alpha_max <= 0 or not 0.0 < self.ema_decay < 1.0:
            raise UserError(f"train bank: expected p_default in [0, 1], alpha_max > 0, ema_decay in (0, 1), got "
                            f"{self.p_default}, {self.alpha_max}, {self.ema_decay}")
        _check_choice("--upsample", self.upsample, UPSAMPLE_MODES)
        _check_choice("--lr-schedule", self.lr_schedule, LR_SCHEDULES)
        check_device(self.device)
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
    iters: int = flag(1000, positive=True)
    size: int = flag(1024, positive=True, help="training crop side = finest output's side; the others are size/2 "
                                               "and size/4 (default 1024)")
    loss_crop: int = flag(256, help="side of the window the VGG losses see at each scale; 0 = whole outputs "
                                    "(default 256)")
    batch: int = flag(1, positive=True)
    lr: float = flag(1e-3, positive=True)
    preset: str = flag("cpu", choices=MULTIMODAL_PRESETS,
                       help="network widths: 'paper' (32 channels everywhere) or the CPU-trainable 'cpu'")
    content_weight: float = flag(1.0, positive=True)
    style_weight: float = flag(5.0, positive=True)
    tv_weight: float = flag(0.1, positive=True)
    scale_weights: tuple[float, float, float] = flag(
        (1.0, 0.5, 0.25), parse=float_triple, metavar="L1,L2,L3",
        help="lambda_k of the 256/512/1024 outputs' losses (default 1,0.5,0.25 as in the paper)")
    style_scale: float = flag(1.0, positive=True,
                              help="style image's longest side as a multiple of each output's side (default 1)")
    max_scale: float = flag(1.25, positive=True, help="largest random zoom of the photos")
    style_name: str | None = flag(None, help=_STYLE_NAME)
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(50, positive=True)
    preview_every: int = flag(100, positive=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale_weights", tuple(self.scale_weights))
        if self.iters < 1 or self.batch < 1 or self.size < 64 or self.size % 4:
            raise UserError(f"train multimodal: expected iters >= 1, batch >= 1 and size >= 64 divisible by 4, got "
                            f"iters={self.iters}, batch={self.batch}, size={self.size}")
        if self.loss_crop < 0 or 0 < self.loss_crop < 32:
            raise UserError(f"--loss-crop: expected 0 (whole outputs) or >= 32 pixels, got {self.loss_crop}")
        if len(self.scale_weights) != 3 or min(self.scale_weights) < 0:
            raise UserError(f"--scale-weights: expected three non-negative numbers, got {self.scale_weights}")
        if self.style_scale <= 0 or self.max_scale < 1:
            raise UserError(f"train multimodal: expected style_scale > 0 and max_scale >= 1, got "
                            f"style_scale={self.style_scale}, max_scale={self.max_scale}")
        if self.preset not in MULTIMODAL_PRESETS:
            raise UserError(f"--preset: expected one of {sorted(MULTIMODAL_PRESETS)}, got {self.preset!r}")
        check_device(self.device)

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
    iters: int = flag(1500, positive=True)
    size: int = flag(192, positive=True, help=_CROP)
    batch: int = flag(4, positive=True)
    lr: float = flag(1e-3, positive=True)
    pixel_weight: float = flag(1.0, positive=True, help="weight of the pixel MSE")
    feature_weight: float = flag(0.02, positive=True, help="weight of the relative feature error at the decoder's "
                                                           "level (0: pixel loss only)")
    holdout: int = flag(10, help="images of --data never trained on (held-out PSNR)")
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(100, positive=True)
    preview_every: int = flag(100, positive=True)

    def __post_init__(self) -> None:
        _check_choice("--level", self.level, LEVELS)
        _check_choice("--kind", self.kind, KINDS)
        if self.iters < 1 or self.batch < 1 or self.size < 32:
            raise UserError(f"train decoder: expected iters >= 1, batch >= 1, size >= 32, got "
                            f"iters={self.iters}, batch={self.batch}, size={self.size}")
        if self.holdout < 0:
            raise UserError(f"--holdout: expected a count >= 0, got {self.holdout}")
        check_device(self.device)

    @property
    def model_config(self) -> Any:
        """The :class:`impasto.models.photowct.DecoderConfig` of this run."""
        from impasto.models.photowct import DecoderConfig

        return DecoderConfig(level=self.level, kind=self.kind)


@dataclass(frozen=True)
class WarpNetTrainConfig:
    """Everything that defines a warp-network training run (see :mod:`impasto.training.warpnet`)."""

    data: str = flag(help=_DATA)
    iters: int = flag(600, positive=True)
    size: int = flag(192, positive=True, help="working square side in pixels, a multiple of 16 (pool4 grid = size/16)")
    steps: int = flag(3, positive=True, help="refinement steps K")
    hidden: int = flag(128, positive=True, help="width of the head CNN f")
    batch: int = flag(4, positive=True)
    lr: float = flag(5e-4, positive=True)
    field_weight: float = flag(1.0, positive=True, help="weight of the known-field L1 loss")
    window_weight: float = flag(0.1, positive=True,
                                help="weight of the window-softmax matching loss (-log p over a 9x9 window)")
    smooth_weight: float = flag(0.2, help="weight of the field's total variation (0 turns it off)")
    window_radius: int = 4
    temperature: float = 0.05
    gamma: float = 0.8
    holdout: int = flag(8, help="images of --data never trained on (held-out EPE)")
    device: str = flag("cpu", help=_DEVICE)
    seed: int = flag(0)
    checkpoint_every: int = flag(50, positive=True)
    preview_every: int = flag(100, positive=True)

    def __post_init__(self) -> None:
        if self.iters < 1 or self.batch < 1:
            raise UserError(f"train warpnet: expected iters >= 1 and batch >= 1, got iters={self.iters}, "
                            f"batch={self.batch}")
        self.model_config  # noqa: B018  (validates size, steps, hidden)
        if (min(self.field_weight, self.window_weight, self.smooth_weight) < 0
                or self.field_weight + self.window_weight == 0):
            raise UserError(f"train warpnet: expected non-negative loss weights, field and window not both 0, got "
                            f"field={self.field_weight}, window={self.window_weight}, smooth={self.smooth_weight}")
        if self.window_radius < 1 or not self.temperature > 0 or not 0 < self.gamma <= 1:
            raise UserError(f"train warpnet: expected window radius >= 1, temperature > 0, 0 < gamma <= 1, got "
                            f"{self.window_radius}, {self.temperature}, {self.gamma}")
        if self.holdout < 0:
            raise UserError(f"--holdout: expected a count >= 0, got {self.holdout}")
        check_device(self.device)

    @property
    def model_config(self) -> Any:
        """The :class:`impasto.models.warpnet.WarpNetConfig` of this run."""
        from impasto.models.warpnet import WarpNetConfig

        return WarpNetConfig(size=self.size, steps=self.steps, hidden=self.hidden)
