"""The model registry: one :class:`ModelSpec` per trainable method, used by training, export and tools.

A spec says how a method's network is built from its configuration dataclass, which
part of it a checkpoint stores, which graph contract its export produces
(:mod:`impasto.contracts`) and the export defaults (opset, parity tolerance and sizes).
:func:`build_from_checkpoint` is the one place a network is rebuilt from a checkpoint
(``impasto export``, the tests and the tools); a training run's ``--resume`` and
``--init`` build the network with ``spec.build`` and load the checkpoint's weights into
``spec.stored(net)``, the same part the checkpoint was written from.

Example:
    >>> from impasto.models.checkpoint import load_checkpoint
    >>> from impasto.models.registry import build_from_checkpoint
    >>> net = build_from_checkpoint(load_checkpoint("runs/bank.pt"))   # eval mode, CPU
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from impasto.errors import ModelError


@dataclass(frozen=True)
class ExportDefaults:
    """How a method's graph is exported and checked.

    Attributes:
        opset: the default ONNX opset; ``min_opset`` / ``max_opset`` the accepted range
            (``max_opset`` None: the newest ``onnx`` knows), ``opset_note`` why it is narrow.
        atol: the fp32 parity bound (max abs error between ONNX Runtime and PyTorch).
        parity_sizes: ``(height, width)`` of the parity inputs; at least one odd size.
        min_parity_sizes: how many parity sizes an export needs at least.
        min_side: the smallest image height/width the graph accepts.
        fp16: what ``--fp16`` does: ``""`` (refused: fp32 only), ``"full"`` (weights and
            activations in float16, held to ``fp16_atol`` and ``fp16_min_psnr_db``) or
            ``"weights"`` (float16 weight storage, compute and bound stay fp32).
        torchscript: whether the TorchScript exporter may run (for opsets below 18, and
            as the fallback when the dynamo exporter fails).
    """

    opset: int = 18
    min_opset: int = 18
    max_opset: int | None = None
    opset_note: str = ""
    atol: float = 1e-4
    parity_sizes: tuple[tuple[int, int], ...] = ((128, 128), (131, 97))
    min_parity_sizes: int = 1
    min_side: int = 5
    fp16: str = ""
    fp16_atol: float | None = None
    fp16_min_psnr_db: float | None = None
    torchscript: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """One method's model card in code (cf. timm's ``PretrainedCfg``).

    Attributes:
        method: the checkpoint's ``method`` and the graph's ``impasto.method``.
        arch: the checkpoint's ``model.arch``.
        config_cls: the frozen configuration dataclass (``model.config`` holds its fields).
        build: ``build(config, **kwargs) -> nn.Module``, an untrained network.
        stored: the part of the network whose ``state_dict`` a checkpoint holds (the
            warp network stores its head; the VGG16 encoder comes from the weights file).
        contract: the name of its graph contract in :mod:`impasto.contracts`.
        export: export defaults.
        summary: one line for listings.
    """

    method: str
    arch: str
    config_cls: type
    build: Callable[..., nn.Module]
    contract: str
    export: ExportDefaults
    summary: str
    stored: Callable[[nn.Module], nn.Module] = lambda net: net

    def config_from_dict(self, data: dict[str, Any]) -> Any:
        """The configuration dataclass from its stored dict (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(self.config_cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ModelError(f"checkpoint: {self.arch} configuration has unknown keys {unknown}; expected some of "
                             f"{sorted(names)}")
        try:
            return self.config_cls(**data)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"checkpoint: invalid {self.arch} configuration {data} ({exc})") from None


def _feedforward(config: Any, **_: Any) -> nn.Module:
    from impasto.models.transformer import TransformerNet

    return TransformerNet(config)


def _bank(config: Any, **_: Any) -> nn.Module:
    from impasto.models.style_bank import StyleBankNet

    return StyleBankNet(config)


def _multimodal(config: Any, **_: Any) -> nn.Module:
    from impasto.models.multimodal import MultimodalNet

    return MultimodalNet(config)


def _decoder(config: Any, **_: Any) -> nn.Module:
    from impasto.models.photowct import Decoder

    return Decoder(config)


def _warpnet(config: Any, *, vgg_weights: Any = None, **_: Any) -> nn.Module:
    from impasto.models.warpnet import build_warpnet

    return build_warpnet(config, vgg_weights)


def _munit(config: Any, **_: Any) -> nn.Module:
    from impasto.models.munit import MUNIT

    return MUNIT(config)


def _specs() -> dict[str, ModelSpec]:
    from impasto.models.multimodal import MIN_SIDE as MULTIMODAL_MIN_SIDE
    from impasto.models.multimodal import MultimodalConfig
    from impasto.models.munit import MUNITConfig
    from impasto.models.photowct import MIN_SIDE as WCT_MIN_SIDE
    from impasto.models.photowct import DecoderConfig
    from impasto.models.style_bank import StyleBankConfig
    from impasto.models.transformer import TransformerConfig
    from impasto.models.warpnet import WarpNetConfig

    # fp16 bounds: fp16 has an 11-bit significand (relative step ~4.9e-4 per rounding) and the
    # error compounds over ~10 convolutions and instance norms; 2e-2 is ~5 steps of an 8-bit
    # output at the worst pixel, and 40 dB PSNR (RMS error <= 0.01) keeps it visually the same.
    # WCT / warp: 1e-3, as Newton-Schulz, whitening and the correlation compound float32 rounding.
    specs = [
        ModelSpec("feedforward", "TransformerNet", TransformerConfig, _feedforward, "stylize",
                  ExportDefaults(opset=18, min_opset=17, atol=1e-4, fp16="full", fp16_atol=2e-2,
                                 fp16_min_psnr_db=40.0, torchscript=True,
                                 parity_sizes=((128, 128), (201, 317), (384, 256))),
                  "Johnson et al. feed-forward network, one style"),
        ModelSpec("bank", "StyleBankNet", StyleBankConfig, _bank, "bank",
                  ExportDefaults(atol=1e-4, parity_sizes=((128, 128), (131, 97))),
                  "conditional-instance-norm style bank with per-layer loss weights as inputs"),
        ModelSpec("multimodal", "MultimodalNet", MultimodalConfig, _multimodal, "multiscale",
                  ExportDefaults(atol=1e-4, parity_sizes=((128, 192), (101, 147)), min_side=MULTIMODAL_MIN_SIDE),
                  "Wang et al. hierarchical Multimodal Transfer network (three outputs)"),
        ModelSpec("decoder", "Decoder", DecoderConfig, _decoder, "wct",
                  ExportDefaults(atol=1e-3, parity_sizes=((64, 96), (75, 53)), min_parity_sizes=2,
                                 min_side=WCT_MIN_SIDE, fp16="weights"),
                  "PhotoWCT / WCT decoder of one VGG16 level (exported as a whole pipeline)"),
        ModelSpec("warpnet", "WarpNet", WarpNetConfig, _warpnet, "warp",
                  ExportDefaults(atol=1e-3, parity_sizes=((96, 128), (75, 53)), min_parity_sizes=2, min_side=16,
                                 max_opset=18, opset_note="GridSample at opset 20 is mis-computed by TensorRT",
                                 fp16="weights"),
                  "Learning-to-Warp network (VGG16 relu4_1 or pool4 correlation -> warp field)",
                  stored=lambda net: net.head),
        ModelSpec("munit", "MUNIT", MUNITConfig, _munit, "translate",
                  ExportDefaults(atol=1e-4, parity_sizes=((64, 64), (75, 53)), min_parity_sizes=2, min_side=16),
                  "Huang et al. MUNIT: two AdaIN generators (content, style, decoder per domain)"),
    ]
    return {s.method: s for s in specs}


_REGISTRY: dict[str, ModelSpec] | None = None


def specs() -> dict[str, ModelSpec]:
    """``{method: spec}`` of every registered method."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _specs()
    return _REGISTRY


def get_spec(method: str) -> ModelSpec:
    """The spec of ``method``.

    Raises:
        ModelError: no such method.
    """
    try:
        return specs()[method]
    except KeyError:
        raise ModelError(f"expected a method among {sorted(specs())}, got {method!r}") from None


def spec_of(ckpt: dict[str, Any]) -> ModelSpec:
    """The spec of a loaded checkpoint, checked against its ``model.arch``.

    Raises:
        ModelError: an unknown method, or an architecture that does not match it.
    """
    method = ckpt.get("method", "feedforward")  # the first checkpoints had no method key
    model = ckpt.get("model") if isinstance(ckpt.get("model"), dict) else {}
    spec = get_spec(method)
    if model.get("arch") != spec.arch:
        raise ModelError(f"checkpoint: expected architecture {spec.arch!r} for method {method!r}, "
                         f"got {model.get('arch')!r}")
    return spec


def build_from_checkpoint(ckpt: dict[str, Any], *, method: str | None = None, **build_kwargs: Any) -> nn.Module:
    """Rebuild the checkpoint's network with its weights, on the CPU in eval mode.

    Args:
        ckpt: a loaded checkpoint (:func:`impasto.models.checkpoint.load_checkpoint`).
        method: if given, the method the checkpoint must have.
        **build_kwargs: passed to the spec's ``build`` (``vgg_weights`` for the warp network).

    Raises:
        ModelError: another method than ``method``, an unknown architecture, a bad
            configuration, or weights that do not fit it.
    """
    spec = spec_of(ckpt)
    if method is not None and spec.method != method:
        raise ModelError(f"checkpoint: expected method {method!r}, got {spec.method!r}")
    config = spec.config_from_dict(ckpt["model"].get("config") or {})
    net = spec.build(config, **build_kwargs)
    try:
        spec.stored(net).load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError) as exc:
        raise ModelError(f"checkpoint: {spec.arch} weights do not fit its configuration "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    return net.float().cpu().eval()
