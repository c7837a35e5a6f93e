"""Shared fixtures: paths to ../shared, VGG16 weights, a tiny exported model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))


def _need(what: str) -> None:
    """Fail under CI (where ``.ci/run`` provides everything), skip on a bare machine."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing under CI (.ci/run should provide it)")
    pytest.skip(f"{what} is not available here")


@pytest.fixture(scope="session")
def shared() -> Path:
    d = shared_dir()
    if not (d / "data").is_dir():
        _need(f"shared data folder {d}")
    return d


@pytest.fixture(scope="session")
def vgg_weights() -> str:
    p = os.environ.get("IMPASTO_VGG16_WEIGHTS")
    if not p or not Path(p).is_file():
        _need("IMPASTO_VGG16_WEIGHTS (VGG16 weights)")
    return p


@pytest.fixture
def photo() -> np.ndarray:
    """The shipped sample photo as HxWx3 uint8 RGB."""
    from impasto.runtime.io.images import read_image

    return read_image(ROOT / "assets" / "chelsea.jpg")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A small TransformerNet checkpoint with perturbed weights, in impasto's format."""
    torch = pytest.importorskip("torch")
    from impasto.models.checkpoint import save_checkpoint
    from impasto.models.transformer import TransformerConfig, TransformerNet

    torch.manual_seed(0)
    cfg = TransformerConfig(width=8, n_residual=1)
    net = TransformerNet(cfg)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "norm" in name or p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, {"method": "feedforward", "model": {"arch": "TransformerNet", "config": cfg.to_dict()},
                           "state_dict": net.state_dict(), "optimizer": {}, "iteration": 0,
                           "train_config": {"style": "tiny.jpg"},
                           "card": {"command": "test fixture", "style_name": "tiny", "iterations": 0}})
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny checkpoint exported to ONNX (parity-checked by the exporter)."""
    from impasto.export import export_checkpoint

    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_checkpoint(tiny_checkpoint, out, parity_sizes=((32, 32), (33, 47), (64, 48)))
    return out


# --- WCT / PhotoWCT: random decoders and tiny exported graphs (shared by several test modules) ----

WCT_TEST_LEVELS = ("relu1_1", "relu2_1")
#: Newton–Schulz steps of the tiny test graphs (fewer than the default: a smaller graph exports faster).
WCT_TEST_NS_ITERS = 12


def save_random_decoder(path: Path, level: str, kind: str, seed: int = 0) -> Path:
    """A decoder checkpoint in ``impasto train decoder``'s format with random weights (centred output)."""
    import torch

    from impasto.models.checkpoint import save_checkpoint
    from impasto.models.photowct import Decoder, DecoderConfig

    torch.manual_seed(seed)
    net = Decoder(DecoderConfig(level, kind))
    with torch.no_grad():
        net.input_scale.fill_(0.01)  # VGG activations are ~10^2
        net.out[1].bias.fill_(0.5)
    save_checkpoint(path, {"method": "decoder", "model": {"arch": "Decoder", "config": net.config.to_dict()},
                           "state_dict": net.state_dict(), "optimizer": {}, "iteration": 0,
                           "train_config": {"level": level, "kind": kind},
                           "card": {"command": "test fixture", "level": level, "kind": kind, "iterations": 0}})
    return path


@pytest.fixture(scope="session")
def wct_decoders(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """``{(kind, level): checkpoint}`` of random decoders for both kinds at :data:`WCT_TEST_LEVELS`."""
    d = tmp_path_factory.mktemp("decoders")
    return {(k, lv): save_random_decoder(d / f"{k}_{lv}.pt", lv, k, seed=i)
            for i, (k, lv) in enumerate((k, lv) for k in ("photo", "artistic") for lv in WCT_TEST_LEVELS)}


def _export_cli(argv: list[str]) -> dict:
    import contextlib
    import io
    import json

    from impasto.cli.main import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    assert code == 0, f"impasto {' '.join(argv)} exited {code}"
    return json.loads(buf.getvalue())


@pytest.fixture(scope="session")
def photowct_graph(wct_decoders, vgg_weights, tmp_path_factory):
    """A tiny photowct graph (random photo decoders at relu1_1 + relu2_1), exported through the CLI."""
    from types import SimpleNamespace

    out = tmp_path_factory.mktemp("photowct") / "photowct.onnx"
    report = _export_cli(["export", "photowct", *(str(wct_decoders["photo", lv]) for lv in WCT_TEST_LEVELS),
                          "-o", str(out), "--json", "--ns-iters", str(WCT_TEST_NS_ITERS)])
    return SimpleNamespace(path=out, report=report)


@pytest.fixture(scope="session")
def wct_graph(wct_decoders, vgg_weights, tmp_path_factory):
    """A tiny wct graph (one random artistic decoder at relu2_1), exported through the CLI."""
    from types import SimpleNamespace

    out = tmp_path_factory.mktemp("wct") / "wct.onnx"
    report = _export_cli(["export", "wct", str(wct_decoders["artistic", "relu2_1"]), "-o", str(out), "--json",
                          "--ns-iters", str(WCT_TEST_NS_ITERS)])
    return SimpleNamespace(path=out, report=report)


#: The card of :func:`warpnet_graph` (figures made up for the test, in the fields training writes).
WARPNET_TEST_CARD = {"method": "warpnet", "data": "test fixture", "iterations": 3, "heldout_epe_px": 1.25,
                     "identity_epe_px": 2.5}


@pytest.fixture(scope="session")
def warpnet_graph(tmp_path_factory):
    """A small warpnet graph (``support.small_warpnet``: a tiny encoder, no VGG16), exported and parity-checked:
    ``path`` and ``card`` (:data:`WARPNET_TEST_CARD`)."""
    pytest.importorskip("torch")
    from types import SimpleNamespace

    from support import small_warpnet

    from impasto.export import export_plan
    from impasto.export.methods.warpnet import network_plan

    out = tmp_path_factory.mktemp("warpnet") / "warpnet.onnx"
    export_plan(network_plan(small_warpnet(), [{"file": "small.pt", "sha256": "0" * 64}], WARPNET_TEST_CARD), out)
    return SimpleNamespace(path=out, card=WARPNET_TEST_CARD)


@pytest.fixture(scope="session")
def multiscale_model(tmp_path_factory) -> Path:
    """A three-output model with MT-Net's I/O and metadata, built with onnx.helper (no torch).

    ``stylized_1024`` is ``1 - image``; ``stylized_512`` and ``stylized_256`` are its 2x2 and
    4x4 box averages (ceil sizes), so each output is recognisable.
    """
    import json

    import onnx
    from onnx import TensorProto, helper

    def pool(src: str, dst: str) -> onnx.NodeProto:
        return helper.make_node("AveragePool", [src], [dst], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1,
                                count_include_pad=0)

    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [helper.make_node("Sub", ["one", "image"], ["stylized_1024"]), pool("stylized_1024", "stylized_512"),
             pool("stylized_512", "stylized_256")]
    dims = {"stylized_256": ["batch", 3, "height_4", "width_4"], "stylized_512": ["batch", 3, "height_2", "width_2"],
            "stylized_1024": ["batch", 3, "height", "width"]}
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in dims.items()]
    graph = helper.make_graph(nodes, "multiscale", [helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, ["batch", 3, "height", "width"])], outputs, initializer=[one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    layout = {"outputs": [{"name": "stylized_256", "scale": 256, "downsample": 4},
                          {"name": "stylized_512", "scale": 512, "downsample": 2},
                          {"name": "stylized_1024", "scale": 1024, "downsample": 1}],
              "default": "stylized_1024", "min_side": 17, "trained_side": 1024}
    for key, value in {"impasto.style_name": "inverse", "impasto.method": "multimodal", "impasto.kind": "multiscale",
                       "impasto.input": json.dumps({"name": "image", "range": [0, 1]}),
                       "impasto.multiscale": json.dumps(layout)}.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path_factory.mktemp("multiscale") / "inverse_mt.onnx"
    onnx.save(model, path)
    return path


# --- MUNIT: a tiny random checkpoint and its two exported graphs (export, runtime and CLI tests) ---

#: A tiny MUNIT configuration (each graph ~80 kB): export cost is the exporter's, not the network's.
MUNIT_TEST_CONFIG = {"dim": 4, "mlp_dim": 8, "style_dim": 3, "n_downsample": 2, "n_res": 1,
                     "domain_a": "edges", "domain_b": "bags"}


@pytest.fixture(scope="session")
def munit_checkpoint(tmp_path_factory) -> Path:
    """A MUNIT checkpoint in impasto's format with random weights (layer-norm gains and biases perturbed)."""
    torch = pytest.importorskip("torch")
    from impasto.models.checkpoint import save_checkpoint
    from impasto.models.munit import MUNIT, MUNITConfig

    torch.manual_seed(0)
    cfg = MUNITConfig(**MUNIT_TEST_CONFIG)
    net = MUNIT(cfg)
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.2)
    path = tmp_path_factory.mktemp("munit_ckpt") / "munit.pt"
    save_checkpoint(path, {"method": "munit", "model": {"arch": "MUNIT", "config": cfg.to_dict()},
                           "state_dict": net.state_dict(), "optimizer": {}, "iteration": 0,
                           "train_config": {}, "card": {"command": "test fixture", "iterations": 0}})
    return path


@pytest.fixture(scope="session")
def munit_model(munit_checkpoint, tmp_path_factory):
    """The tiny MUNIT checkpoint exported through ``impasto export munit``: ``path`` (the stem) and ``report``."""
    from types import SimpleNamespace

    out = tmp_path_factory.mktemp("munit") / "munit.onnx"
    report = _export_cli(["export", "munit", str(munit_checkpoint), "-o", str(out), "--json"])
    return SimpleNamespace(path=out, report=report, checkpoint=munit_checkpoint)
