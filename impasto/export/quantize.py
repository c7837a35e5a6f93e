"""int8 graphs for the CPU: ONNX Runtime static quantization (QDQ) calibrated on real photos.

``impasto quantize GRAPH --calib DIR -o OUT.onnx`` and ``impasto export CKPT --int8 --calib
DIR`` run :func:`quantize_graph`: the photos under ``DIR`` are fed through the fp32 graph to
record activation ranges (min/max), then every quantized operator gets
QuantizeLinear/DequantizeLinear pairs with int8 weights (per output channel) and uint8
activations; ONNX Runtime fuses them into integer kernels (VNNI where the CPU has it). The
graph keeps its inputs, outputs and ``impasto.*`` metadata, plus ``impasto.quantized``
(``"int8"``) and ``impasto.quantization`` (what was calibrated on), so the runtime runs it
like any graph. A quantized graph is checked against the fp32 one on the calibration photos
(:data:`MIN_PSNR_DB`); below that, nothing is written.

Convention:
    Calibration feeds are what :class:`~impasto.runtime.pipelines.stylizer.Stylizer`
    feeds: float32 NCHW RGB in ``[0, impasto.input range]``, each photo area-resized so its
    longest side is ``QuantizeConfig.size``. A style bank also gets ``style_weights``
    (one-hot, cycling over its styles photo by photo) and ``content_layer_weights`` /
    ``style_layer_weights`` at their default, all ones.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import ExportError, ModelError, UserError
from impasto.export.tensorrt_calibration import input_range_of, list_calibration_images, preprocess
from impasto.runtime.io.atomic import atomic_write_bytes
from impasto.runtime.io.images import read_image
from impasto.runtime.onnx_metadata import read_onnx_metadata
from impasto.runtime.pipelines.bank import BANK_INPUTS, BankLayout, is_bank
from impasto.utils.progress import Progress

#: Metadata keys a quantized graph adds.
QUANTIZED_KEY = "impasto.quantized"
QUANTIZATION_KEY = "impasto.quantization"
#: The quantized graph must match the fp32 one this closely on the calibration photos (images in [0, 1]).
MIN_PSNR_DB = 25.0
#: Operators quantized by default: the convolutions and the upsampling (measured: quantizing Pad, Relu or
#: Add too was slower, their Quantize/Dequantize pairs cost more than the int8 op saves; docs/speed.md).
DEFAULT_OP_TYPES = ("Conv", "Resize")


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantize.

    Attributes:
        calib_dir: folder of photos (recursive).
        size: longest side the photos are resized to for calibration.
        max_images: at most this many photos (the first, sorted by path).
        op_types: operator types to quantize.
        keep_ends_fp32: leave the first and last convolution in fp32 (the image-facing layers: with 3
            channels in or out, their int8 kernels were 2-4x slower than fp32 here, and less exact).
        per_channel: one weight scale per output channel.
    """

    calib_dir: Path
    size: int = 256
    max_images: int = 32
    op_types: tuple[str, ...] = DEFAULT_OP_TYPES
    keep_ends_fp32: bool = True
    per_channel: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["calib_dir"] = str(self.calib_dir)
        return d


def calibration_feeds(graph: str | os.PathLike, config: QuantizeConfig) -> list[dict[str, np.ndarray]]:
    """The feeds calibration runs (see the module docstring).

    Raises:
        UserError: the calibration folder is missing or holds no images.
        ModelError: the graph's metadata is unreadable.
    """
    files = list_calibration_images(config.calib_dir)[:config.max_images]
    meta = read_onnx_metadata(graph)
    scale = input_range_of(meta)
    bank = BankLayout.from_metadata(meta, f"model {str(graph)!r}") if is_bank(meta) else None
    feeds = []
    for i, path in enumerate(files):
        rgb = read_image(path)
        h, w = rgb.shape[:2]
        s = config.size / max(h, w)
        feed = {"image": preprocess(rgb, (max(8, round(h * s)), max(8, round(w * s))), scale)}
        if bank is not None:
            feed[BANK_INPUTS[1]] = np.eye(bank.n_styles, dtype=np.float32)[i % bank.n_styles]
            feed[BANK_INPUTS[2]] = np.ones(len(bank.content_layers), np.float32)
            feed[BANK_INPUTS[3]] = np.ones(len(bank.style_layers), np.float32)
        feeds.append(feed)
    return feeds


def quantize_graph(graph: str | os.PathLike, output: str | os.PathLike, config: QuantizeConfig, *,
                   progress: bool = False) -> dict[str, Any]:
    """Write the int8 (QDQ) form of ``graph`` to ``output`` (atomically) and return a report.

    Args:
        graph: an fp32 feed-forward graph or style bank.
        output: the ``.onnx`` file to write.
        config: how to quantize.
        progress: a bar of calibration photos on stderr.

    Raises:
        UserError: a bad calibration folder, an output that would replace the input, or a
            graph that is already quantized.
        ModelError: the graph cannot be read.
        ExportError: the quantized graph is too far from the fp32 one (nothing written).
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    graph, output = Path(graph), Path(output)
    if output.resolve() == graph.resolve():
        raise UserError(f"-o: expected a new file, got the input graph {str(output)!r}")
    meta = read_onnx_metadata(graph)
    if meta.get(QUANTIZED_KEY):
        raise UserError(f"{str(graph)!r} is already quantized ({QUANTIZED_KEY} = {meta[QUANTIZED_KEY]!r})")
    from impasto.runtime.shared_weights import check_shared_weights

    check_shared_weights(graph, meta)  # onnx.load reads it beside the graph
    model = onnx.load(str(graph))
    input_names = [i.name for i in model.graph.input]
    expected = list(BANK_INPUTS) if is_bank(meta) else input_names[:1]
    if input_names != expected or len(model.graph.input[0].type.tensor_type.shape.dim) != 4:
        raise UserError(f"{str(graph)!r}: expected a feed-forward graph (one Nx3xHxW input) or a style bank "
                        f"({list(BANK_INPUTS)}), got inputs {input_names} (stats forms are not quantized)")
    feeds = calibration_feeds(graph, config)
    if input_names[0] != "image":  # a converted graph names its image input otherwise
        feeds = [{input_names[0]: f.pop("image"), **f} for f in feeds]
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    exclude = [convs[0], convs[-1]] if config.keep_ends_fp32 and len(convs) >= 2 else []

    class _Reader(CalibrationDataReader):
        def __init__(self, bar: Progress) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)
            self._bar = bar

        def get_next(self) -> dict[str, np.ndarray] | None:
            feed = next(self._it, None)
            if feed is not None:
                self._bar.update(1)
            return feed

    with tempfile.TemporaryDirectory(prefix=".impasto-quant-", dir=output.parent if output.parent.is_dir() else None) \
            as tmp, Progress(len(feeds), "calibrate", enabled=progress) as bar, _quiet_root_logger():
        raw = Path(tmp) / "q.onnx"
        try:
            quantize_static(str(graph), str(raw), _Reader(bar), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=list(config.op_types), per_channel=config.per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=exclude)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model {str(graph)!r}: ONNX Runtime cannot quantize it: {msg}") from None
        quantized = onnx.load(str(raw))
    info = {"format": "QDQ", "weights": "int8 per-channel" if config.per_channel else "int8 per-tensor",
            "activations": "uint8", "calibration": "minmax", "images": len(feeds), "size": config.size,
            "op_types": list(config.op_types), "fp32_nodes": exclude}
    del quantized.metadata_props[:]
    for key, value in {**meta, QUANTIZED_KEY: "int8", QUANTIZATION_KEY: json.dumps(info)}.items():
        entry = quantized.metadata_props.add()
        entry.key, entry.value = key, value
    data = quantized.SerializeToString()
    parity = compare(graph, data, feeds[: min(len(feeds), 4)])
    report = {"input": str(graph), "output": str(output), "quantization": info, "parity": parity,
              "fp32_bytes": graph.stat().st_size, "int8_bytes": len(data)}
    worst = min(r["psnr_db"] for r in parity)
    if worst < MIN_PSNR_DB:
        raise ExportError(f"int8 graph of {graph.name} is too far from fp32: PSNR {worst:.1f} dB < {MIN_PSNR_DB:g} "
                          "dB on the calibration photos; nothing written (try --keep-ends-fp32)")
    atomic_write_bytes(output, data)
    return report


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantizer warns on the root logger for every weight it cannot make per-channel."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def compare(graph: Path, quantized: bytes, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Max abs error and PSNR (dB, peak 1) of the quantized graph against ``graph`` on ``feeds``."""
    import onnxruntime as ort

    fp32 = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    int8 = ort.InferenceSession(quantized, providers=["CPUExecutionProvider"])
    rows = []
    for feed in feeds:
        a, b = fp32.run(None, feed)[0], int8.run(None, feed)[0]
        if not np.isfinite(b).all():
            raise ExportError("the int8 graph produced non-finite values on a calibration photo; nothing written")
        mse = float(np.mean((a.astype(np.float64) - b) ** 2))
        rows.append({"size": list(a.shape[2:]), "max_abs_error": float(np.abs(a - b).max()),
                     "psnr_db": float(10 * np.log10(1.0 / max(mse, 1e-12)))})
    return rows
