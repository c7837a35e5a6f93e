"""Graph contracts: every exported graph's inputs, outputs and metadata keys, defined once (torch-free).

``impasto export`` names a graph's inputs and outputs from its contract and checks the
exported graph against it; the runtime reads the same names from here. The model-file
suffixes live here too.

Convention:
    A dim is an ``int`` (fixed) or a symbolic name: ``batch``; ``height`` / ``width`` (the
    content image); ``style_height`` / ``style_width``, ``guide_height`` /
    ``guide_width`` (a second image); ``labels`` (mask channels); ``styles``,
    ``content_layers`` / ``style_layers`` (a bank's vector lengths, fixed per graph);
    ``codes`` / ``style_dim`` (a MUNIT graph's style codes and their length, the latter fixed);
    and the derived ``height_2 = ceil(height / 2)``, ``height_4 = ceil(height_2 / 2)``
    (likewise widths; see :data:`DERIVED_DIMS`); the staged WCT graphs' floor halvings
    ``height_f2 = height // 2``, ``height_f4``, ``height_f8`` (:data:`FLOOR_DIMS`). Images
    are float32 NCHW RGB in ``[0, 1]``. Every ``metadata_props`` value is a string (JSON where it holds more than
    one value): the keys of :data:`COMMON_METADATA` in every graph, plus the contract's own.

Example:
    >>> from impasto.contracts import contract
    >>> contract("bank").input_names
    ('image', 'style_weights', 'content_layer_weights', 'style_layer_weights')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.errors import ModelError

ONNX_SUFFIX = ".onnx"
#: The suffix ``impasto build-engine`` writes; the other two are read as engines too.
ENGINE_SUFFIX = ".engine"
ENGINE_SUFFIXES: tuple[str, ...] = (ENGINE_SUFFIX, ".plan", ".trt")
#: File suffixes taken as model paths: ONNX graphs and TensorRT engines.
MODEL_SUFFIXES: tuple[str, ...] = (ONNX_SUFFIX, *ENGINE_SUFFIXES)

#: Metadata keys of every exported graph. ``impasto.input`` / ``impasto.output`` hold
#: :meth:`GraphContract.input_metadata` / :meth:`GraphContract.output_metadata`;
#: ``impasto.source_sha256`` is a hex digest, or a JSON map of file name to digest.
COMMON_METADATA: tuple[str, ...] = (
    "impasto.version", "impasto.method", "impasto.style_name", "impasto.description", "impasto.input",
    "impasto.output", "impasto.card", "impasto.precision", "impasto.source_sha256", "impasto.parity")
#: Metadata key of a graph whose weights lie partly in a shared file beside it (ONNX external data):
#: JSON ``{"file", "bytes", "sha256", "index"}`` (:mod:`impasto.runtime.shared_weights`).
SHARED_WEIGHTS_KEY = "impasto.shared_weights"
#: Derived dim -> (the dim it halves, divisor): ``ceil(dim / divisor)``.
DERIVED_DIMS: dict[str, tuple[str, int]] = {"height_2": ("height", 2), "width_2": ("width", 2),
                                            "height_4": ("height", 4), "width_4": ("width", 4)}
#: Floor-derived dim -> (the dim it divides, divisor): ``dim // divisor`` (VGG's max-pooling grid).
FLOOR_DIMS: dict[str, tuple[str, int]] = {f"{side}_f{k}": (side, k) for side in ("height", "width") for k in (2, 4, 8)}

#: ``impasto.kind`` of a multi-output graph and the metadata key of its layout (read by the runtime).
MULTISCALE_KIND = "multiscale"
MULTISCALE_METADATA_KEY = "impasto.multiscale"

Dim = int | str


@dataclass(frozen=True)
class TensorContract:
    """One graph input or output.

    Attributes:
        name: the graph's name for it.
        dims: ints (fixed) or symbolic names (see the module docstring).
        dtype: the element type: ``"float32"``, or ``"int64"`` for a staged WCT graph's pooling switches.
        layout: ``"NCHW"``, ``"vector"`` or ``"scalar"``.
        range: ``(low, high)`` of the values (``high`` None: unbounded), or None.
        color: ``"RGB"`` for images, else None.
        units: what the values measure, where that is not a colour.
    """

    name: str
    dims: tuple[Dim, ...]
    dtype: str = "float32"
    layout: str = "NCHW"
    range: tuple[float, float | None] | None = (0, 1)
    color: str | None = "RGB"
    units: str | None = None

    def spec(self) -> dict[str, Any]:
        """The JSON object stored in ``impasto.input`` / ``impasto.output`` (None fields left out)."""
        spec = {"name": self.name, "layout": self.layout, "dtype": self.dtype,
                "range": list(self.range) if self.range else None, "color": self.color, "units": self.units,
                "shape": list(self.dims)}
        return {k: v for k, v in spec.items() if v is not None}


@dataclass(frozen=True)
class GraphContract:
    """One exported graph's signature and metadata keys.

    Attributes:
        name: the contract's name (:func:`contract`).
        inputs: the graph inputs, in order.
        outputs: the graph outputs, in order.
        metadata: the graph's metadata keys besides :data:`COMMON_METADATA`.
        kind: the ``impasto.kind`` value, where the graph has one.
        single_image: ``impasto.input`` describes the image input alone, as one object
            (graphs run by the runtime's Stylizer, which reads its ``range``), and
            ``impasto.output`` a single output as one object; otherwise both are lists.
    """

    name: str
    inputs: tuple[TensorContract, ...]
    outputs: tuple[TensorContract, ...]
    metadata: tuple[str, ...] = ()
    kind: str | None = None
    single_image: bool = False

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    @property
    def metadata_keys(self) -> tuple[str, ...]:
        """Every ``impasto.*`` key the graph carries."""
        return COMMON_METADATA + self.metadata

    def input_metadata(self) -> dict[str, Any] | list[dict[str, Any]]:
        return self.inputs[0].spec() if self.single_image else [t.spec() for t in self.inputs]

    def output_metadata(self) -> dict[str, Any] | list[dict[str, Any]]:
        if self.single_image and len(self.outputs) == 1:
            return self.outputs[0].spec()
        return [t.spec() for t in self.outputs]


def _image(name: str, dims: tuple[Dim, ...] = ("batch", 3, "height", "width")) -> TensorContract:
    return TensorContract(name, dims)


def _mask(name: str, height: str, width: str) -> TensorContract:
    """One-hot label weights, one channel per label (one all-ones channel without masks)."""
    return TensorContract(name, (1, "labels", height, width), color=None)


def _weights(name: str, length: str, high: float | None) -> TensorContract:
    return TensorContract(name, (length,), layout="vector", range=(0, high), color=None)


_WCT_INPUTS = (_image("content", (1, 3, "height", "width")), _image("style", (1, 3, "style_height", "style_width")),
               _mask("content_mask", "height", "width"), _mask("style_mask", "style_height", "style_width"),
               TensorContract("alpha", (1,), layout="scalar", color=None))
_WCT_OUTPUT = (1, 3, "height", "width")

#: Feed-forward style network: image -> stylized, same size.
STYLIZE = GraphContract("stylize", (_image("image"),), (_image("stylized"),), single_image=True)
#: Style bank: the style mixture (sums to 1) and the per-layer loss weights (1 = trained) are inputs.
BANK = GraphContract(
    "bank", (_image("image"), _weights("style_weights", "styles", 1),
             _weights("content_layer_weights", "content_layers", None),
             _weights("style_layer_weights", "style_layers", None)),
    (_image("stylized"),), ("impasto.styles", "impasto.content_layers", "impasto.style_layers"), single_image=True)
#: MT-Net: three outputs, coarse to fine, named by their scale for a 1024 px input.
MULTISCALE = GraphContract(
    "multiscale", (_image("image"),),
    (_image("stylized_256", ("batch", 3, "height_4", "width_4")),
     _image("stylized_512", ("batch", 3, "height_2", "width_2")), _image("stylized_1024")),
    ("impasto.kind", MULTISCALE_METADATA_KEY), kind=MULTISCALE_KIND, single_image=True)
#: PhotoWCT: ``stylized`` is guided-filter smoothed, ``unsmoothed`` the decoders' output.
PHOTOWCT = GraphContract("photowct", _WCT_INPUTS, (_image("stylized", _WCT_OUTPUT), _image("unsmoothed", _WCT_OUTPUT)),
                         ("impasto.wct",))
WCT = GraphContract("wct", _WCT_INPUTS, (_image("stylized", _WCT_OUTPUT),), ("impasto.wct",))
#: Learning-to-Warp: the warped image at p samples the content at ``p + field(p)``.
WARP = GraphContract(
    "warp", (_image("content", (1, 3, "height", "width")), _image("guide", (1, 3, "guide_height", "guide_width"))),
    (TensorContract("field", (1, 2, "height", "width"), range=None, color=None,
                    units="normalised offsets (x, y), align_corners=False"),
     _image("warped", (1, 3, "height", "width"))),
    ("impasto.warpnet",))

CONTRACTS: dict[str, GraphContract] = {c.name: c for c in (STYLIZE, BANK, MULTISCALE, PHOTOWCT, WCT, WARP)}

#: Names the runtime checks graphs against.
BANK_INPUTS = BANK.input_names
WCT_INPUTS = PHOTOWCT.input_names
WARP_INPUTS = WARP.input_names
WARP_OUTPUTS = WARP.output_names

#: Metadata key of a staged WCT level graph: JSON ``{"method", "level", "next"}``.
WCT_STAGE_KEY = "impasto.wct_stage"
#: Channels of the WCT levels' VGG16 features, and the divisor of their size.
WCT_LEVEL_CHANNELS: dict[str, int] = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
WCT_LEVEL_DIVISOR: dict[str, int] = {"relu1_1": 1, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8}
#: Channels of the maps pool1, pool2, pool3 pool.
WCT_POOL_CHANNELS: tuple[int, ...] = (64, 128, 256)


def _grid(divisor: int) -> tuple[str, str]:
    return ("height", "width") if divisor == 1 else (f"height_f{divisor}", f"width_f{divisor}")


def _features(name: str, level: str) -> TensorContract:
    return TensorContract(name, (1, WCT_LEVEL_CHANNELS[level], *_grid(WCT_LEVEL_DIVISOR[level])), range=(0, None),
                          color=None, units=f"VGG16 {level} activations")


def _switch(j: int) -> TensorContract:
    return TensorContract(f"pool{j}", (1, WCT_POOL_CHANNELS[j - 1], *_grid(2 ** j)), dtype="int64", range=None,
                          color=None, units=f"argmax of each 2x2 window of pool{j}, row * width + col within the "
                                            "channel's pre-pool map")


def wct_encoder_contract(levels: tuple[str, ...], pools: int) -> GraphContract:
    """A staged WCT set's encoder graph: ``image`` -> the features of ``levels`` (fine to coarse), ``pool1..``."""
    return GraphContract("wct_encoder", (_image("image", (1, 3, "height", "width")),),
                         tuple(_features(lv, lv) for lv in levels) + tuple(_switch(j) for j in range(1, pools + 1)),
                         ("impasto.wct",))


def wct_level_contract(level: str, next_level: str | None, pools: int, photo: bool) -> GraphContract:
    """A staged WCT set's graph of one level: transformed features -> the next level's features or the images."""
    features = TensorContract("features", (1, WCT_LEVEL_CHANNELS[level], *_grid(WCT_LEVEL_DIVISOR[level])),
                              range=None, color=None, units=f"WCT-transformed VGG16 {level} features")
    inputs = (features, _image("content", (1, 3, "height", "width"))) + tuple(_switch(j) for j in range(1, pools + 1))
    if next_level is not None:
        outputs: tuple[TensorContract, ...] = (_features(next_level, next_level),)
    else:
        outputs = PHOTOWCT.outputs if photo else WCT.outputs
    return GraphContract("wct_level", inputs, outputs, (WCT_STAGE_KEY,))


def contract(name: str) -> GraphContract:
    """The contract called ``name``.

    Raises:
        ModelError: no such contract.
    """
    try:
        return CONTRACTS[name]
    except KeyError:
        raise ModelError(f"expected a graph contract among {sorted(CONTRACTS)}, got {name!r}") from None

# --- arbitrary: a feed-forward arbitrary-style network (impasto convert microast) ---
#: Content, style painting and alpha -> the stylised content, at the content's size.
ARBITRARY = GraphContract(
    "arbitrary", (_image("content", (1, 3, "height", "width")), _image("style", (1, 3, "style_height", "style_width")),
                  TensorContract("alpha", (1,), layout="scalar", color=None)),
    (_image("stylized", (1, 3, "height", "width")),), ("impasto.arbitrary",))
CONTRACTS[ARBITRARY.name] = ARBITRARY
ARBITRARY_INPUTS = ARBITRARY.input_names

# --- translate: one direction of a MUNIT model (impasto export munit, impasto convert munit) ---
#: Source image, a target-domain reference, style codes and the reference's weight -> one translation per code.
#: The decoder runs on ``codes = style + reference_weight * style_of(reference)``; ``style_dim`` is fixed per graph.
TRANSLATE = GraphContract(
    "translate",
    (_image("image", (1, 3, "height", "width")), _image("reference", (1, 3, "style_height", "style_width")),
     TensorContract("style", ("codes", "style_dim"), layout="NC", range=None, color=None,
                    units="style codes (prior N(0, I))"),
     TensorContract("reference_weight", (1,), layout="scalar", range=None, color=None)),
    (_image("translated", ("codes", 3, "height", "width")),
     TensorContract("reference_style", (1, "style_dim"), layout="NC", range=None, color=None,
                    units="the reference's style code")),
    ("impasto.munit",))
CONTRACTS[TRANSLATE.name] = TRANSLATE
TRANSLATE_INPUTS = TRANSLATE.input_names
#: The two directions of a MUNIT model, as ``(source, target)`` domain letters.
MUNIT_DIRECTIONS: tuple[tuple[str, str], ...] = (("a", "b"), ("b", "a"))


def munit_graph_path(model: str | os.PathLike, source: str, target: str) -> Path:
    """The graph file of one direction of the MUNIT model named ``model``.

    Convention:
        A MUNIT model ``munit.onnx`` is stored as two graphs with a shared stem,
        ``munit.a2b.onnx`` (a -> b) and ``munit.b2a.onnx`` (b -> a); ``model`` may name the
        stem (``munit.onnx``, no such file) or either direction's file.
    """
    path = Path(model)
    stem = path.name[:-len(ONNX_SUFFIX)] if path.name.lower().endswith(ONNX_SUFFIX) else path.name
    for s, t in MUNIT_DIRECTIONS:
        if stem.endswith(f".{s}2{t}"):
            stem = stem[:-len(f".{s}2{t}")]
    return path.with_name(f"{stem}.{source}2{target}{ONNX_SUFFIX}")


# --- stats forms: feed-forward graphs whose instance norms take given statistics (tiled inference) ---
#: ``impasto.kind`` of a stats-form graph and the metadata key of its layout (read by the runtime).
NORM_STATS_KIND = "norm-stats"
NORM_STATS_METADATA_KEY = "impasto.norm_stats"
#: The statistics every norm layer uses: ``(1 or batch, 2, norm_channels)``, row 0 means, row 1 standard deviations.
_NORM_STATS_IN = TensorContract("norm_stats", (1, 2, "norm_channels"), range=None, color=None, layout="stats",
                                units="instance-norm mean (row 0) and sqrt(var + eps) (row 1) per channel")
_NORM_STATS_OUT = TensorContract("used_norm_stats", ("batch", 2, "norm_channels"), range=None, color=None,
                                 layout="stats", units="the statistics the norm layers used, as norm_stats")
#: 1: normalise with the image's own statistics (the plain network); 0: with ``norm_stats``.
_FROM_IMAGE = TensorContract("stats_from_image", (1,), layout="scalar", range=(0, 1), color=None)


def _stats_form(plain: GraphContract) -> GraphContract:
    """The stats form of a single-image feed-forward contract (see :mod:`impasto.models.norm_stats`)."""
    return GraphContract(f"{plain.name}_stats", (*plain.inputs, _NORM_STATS_IN, _FROM_IMAGE),
                         (*plain.outputs, _NORM_STATS_OUT),
                         (*plain.metadata, "impasto.kind", NORM_STATS_METADATA_KEY), kind=NORM_STATS_KIND)


#: ``stylize`` and ``bank`` with given instance-norm statistics (thumbnail instance normalisation).
STYLIZE_STATS = _stats_form(STYLIZE)
BANK_STATS = _stats_form(BANK)
CONTRACTS.update({c.name: c for c in (STYLIZE_STATS, BANK_STATS)})
