"""``impasto convert microast``: upstream-layout checkpoints (random and the published ones) -> one checked graph.

The reference here is the test's own functional MicroAST forward, written from the upstream
``net_microAST.py`` layer order and reading the state dicts directly (independent of
:mod:`impasto.models.microast`).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
F = torch.nn.functional

from support import one_error_line  # noqa: E402

from impasto.cli.main import main  # noqa: E402
from impasto.runtime.builtin_graphs import ARBITRARY_DIR  # noqa: E402
from impasto.runtime.io.images import read_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
PARTS = ("content_encoder", "style_encoder", "modulator", "decoder")
#: The published files' sha256 prefixes (../shared README).
PUBLISHED_SHA256 = {"content_encoder": "c8d895c0", "decoder": "32e04a46", "modulator": "8588055b",
                    "style_encoder": "94f6b3fa"}


def _conv_shapes(layers: dict[str, tuple[int, int, int, int]]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for name, shape in layers.items():
        out[f"{name}.conv_layer.weight"], out[f"{name}.conv_layer.bias"] = shape, shape[:1]
    return out


def _residual(prefix: str) -> dict[str, tuple[int, int, int, int]]:
    return {f"{prefix}.conv1": (64, 64, 3, 3), f"{prefix}.conv2": (64, 64, 3, 3)}


#: Upstream's parameter names and shapes, part by part (from the layer order of net_microAST.py).
ENCODER = _conv_shapes({"enc1.0": (16, 3, 9, 9), "enc1.2": (32, 1, 3, 3), "enc1.4": (32, 32, 1, 1),
                        "enc1.6": (64, 1, 3, 3), "enc1.8": (64, 64, 1, 1), **_residual("enc1.10"),
                        **_residual("enc2.0")})
UPSTREAM_SHAPES = {
    "content_encoder": ENCODER, "style_encoder": ENCODER,
    "modulator": _conv_shapes({f"{n}.0": (64, 1, 3, 3) for n in ("weight1", "bias1", "weight2", "bias2")}),
    "decoder": _conv_shapes({**_residual("dec1"), **_residual("dec2"), "dec3.1": (32, 2, 3, 3),
                             "dec3.3": (32, 32, 1, 1), "dec3.6": (16, 2, 3, 3), "dec3.8": (16, 16, 1, 1),
                             "dec3.10": (3, 16, 9, 9)})}


# The test's own upstream forward (functional, straight from the state dicts).

def _c(sd, name, x, stride=1):
    w, b = sd[f"{name}.conv_layer.weight"], sd[f"{name}.conv_layer.bias"]
    p = w.shape[-1] // 2
    return F.conv2d(F.pad(x, [p, p, p, p], mode="reflect"), w, b, stride=stride, groups=x.shape[1] // w.shape[1])


def _res(sd, name, x, w=None, b=None):
    if w is None:
        return x + _c(sd, f"{name}.conv2", F.relu(_c(sd, f"{name}.conv1", x)))
    x2 = F.relu(w * _c(sd, f"{name}.conv1", x) + b * x)
    return x + (w * _c(sd, f"{name}.conv2", x2) + b * x2)


def _encode(sd, x):
    for name, stride in (("enc1.0", 1), ("enc1.2", 2), ("enc1.4", 1), ("enc1.6", 2), ("enc1.8", 1)):
        x = F.relu(_c(sd, name, x, stride))
    f1 = _res(sd, "enc1.10", x)
    return f1, _res(sd, "enc2.0", f1)


def _stats(f):
    v = f.flatten(2)
    return v.mean(2)[:, :, None, None], torch.sqrt(v.var(2) + 1e-5)[:, :, None, None]


def _adain(c, s):
    (cm, cs), (sm, ss) = _stats(c), _stats(s)
    return (c - cm) / cs * ss + sm


def upstream_forward(states: dict[str, dict], content, style):
    """Upstream's TestNet at alpha 1: unclamped, 2*ceil(ceil(side/2)/2) per side."""
    s1, s2 = _encode(states["style_encoder"], style)
    m = states["modulator"]
    w1, w2 = (_c(m, f"weight{i}.0", f).mean((2, 3), keepdim=True) for i, f in ((1, s1), (2, s2)))
    b1, b2 = (_c(m, f"bias{i}.0", f).mean((2, 3), keepdim=True) for i, f in ((1, s1), (2, s2)))
    _, c2 = _encode(states["content_encoder"], content)
    d = states["decoder"]
    x = _res(d, "dec1", _adain(c2, s2), w2, b2)
    x = _res(d, "dec2", _adain(x, s1), w1, b1)
    for i, name in enumerate(("dec3.1", "dec3.3", "dec3.6", "dec3.8")):
        if i % 2 == 0:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.relu(_c(d, name, x))
    return _c(d, "dec3.10", x)


def _random_states(seed: int = 0) -> dict[str, OrderedDict]:
    g = torch.Generator().manual_seed(seed)
    states = {}
    for part, shapes in UPSTREAM_SHAPES.items():
        sd = OrderedDict()
        for k, shape in shapes.items():
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            sd[k] = torch.randn(*shape, generator=g) / (fan_in ** 0.5 if len(shape) > 1 else 10)
        states[part] = sd
    return states


def _save(states: dict[str, dict], d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for part, sd in states.items():
        torch.save(sd, d / f"{part}_iter_160000.pth.tar")
    return d


def _session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(sess, content, style, alpha=1.0):
    return sess.run(None, {"content": content.numpy(), "style": style.numpy(),
                           "alpha": np.array([alpha], np.float32)})[0]


def _photo(name: str, h: int, w: int):
    import cv2

    img = cv2.resize(read_image(name), (w, h), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255)


@pytest.fixture(scope="module")
def random_states():
    return _random_states()


@pytest.fixture(scope="module")
def random_converted(random_states, tmp_path_factory):
    d = _save(random_states, tmp_path_factory.mktemp("microast_random") / "models")
    out = d.parent / "random.onnx"
    from impasto.export.convert.microast import convert

    return out, convert([d], out, command="test")


def test_random_weights_convert_and_match_the_upstream_forward(random_states, random_converted):
    out, report = random_converted
    rows = report["parity"]
    assert report["format"] == "microast" and out.is_file() and report["onnx_bytes"] == out.stat().st_size
    assert len(rows) == 3 and any(h % 2 for h, _ in (r["size"] for r in rows))
    assert all(r["max_abs_error"] <= 1e-4 for r in rows)
    sess = _session(out)
    g = torch.Generator().manual_seed(3)
    for (h, w) in ((64, 96), (67, 45)):  # 67x45: upstream returns 68x48, the graph its top-left 67x45
        c, s = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, 50, 70, generator=g)
        with torch.no_grad():
            ref = upstream_forward(random_states, c, s)[:, :, :h, :w].clamp(0, 1).numpy()
        got = _run(sess, c, s)
        assert got.shape == (1, 3, h, w) and np.abs(got - ref).max() < 1e-4
        half = _run(sess, c, s, 0.5)  # alpha blends with the content in image space
        assert np.abs(half - (0.5 * ref + 0.5 * c.numpy())).max() < 1e-4
        assert np.abs(_run(sess, c, s, 0.0) - c.numpy()).max() < 1e-6


def test_card_and_metadata(random_converted):
    out, _ = random_converted
    meta = _session(out).get_modelmeta().custom_metadata_map
    assert meta["impasto.method"] == "microast"
    card = json.loads(meta["impasto.card"])["converted_from"]
    assert card["format"] == "microast" and "EndyWon/MicroAST" in card["upstream"] and "5a6c9050" in card["upstream"]
    assert card["license"] == "MIT, Copyright (c) 2022 Zhizhong Wang" and card["command"] == "test"
    assert sorted(f["name"] for f in card["files"]) == sorted(f"{p}_iter_160000.pth.tar" for p in PARTS)
    assert "[0, 1]" in card["input_convention"]
    assert json.loads(meta["impasto.arbitrary"])["min_side"] == 16
    parity = json.loads(meta["impasto.parity"])
    assert parity["passed"] and parity["tolerance"]["max_abs_error"] == 1e-4


def _fnst_state() -> OrderedDict:
    """A pytorch/examples fast_neural_style TransformerNet's first keys: another format's file."""
    return OrderedDict([("conv1.conv2d.weight", torch.zeros(32, 3, 9, 9)), ("conv1.conv2d.bias", torch.zeros(32))])


def _drop(states, part, key):
    del states[part][key]


def _add(states, part, key):
    states[part][key] = torch.zeros(3)


def _reshape(states, part, key):
    states[part][key] = torch.zeros(16, 3, 3, 3)


BAD = [
    ("missing decoder file", lambda d, s: (d / "decoder_iter_160000.pth.tar").unlink(),
     "expected one decoder*.pth.tar in", "found none"),
    ("two decoders", lambda d, s: torch.save(s["decoder"], d / "decoder_iter_80000.pth.tar"),
     "expected one decoder*.pth.tar", "decoder_iter_160000.pth.tar, decoder_iter_80000.pth.tar"),
    ("another format's state dict", lambda d, s: torch.save(_fnst_state(), d / "decoder_iter_160000.pth.tar"),
     "unexpected key 'conv1.conv2d.weight'", "expected keys like 'dec1.conv1.conv_layer.weight'"),
    ("not a torch file", lambda d, s: (d / "modulator_iter_160000.pth.tar").write_text("not a checkpoint"),
     "microast modulator", "cannot read"),
    ("missing key", lambda d, s: (_drop(s, "decoder", "dec3.10.conv_layer.bias"),
                                  torch.save(s["decoder"], d / "decoder_iter_160000.pth.tar")),
     "missing key 'dec3.10.conv_layer.bias'", "decoder_iter_160000"),
    ("unexpected key", lambda d, s: (_add(s, "modulator", "weight3.0.conv_layer.bias"),
                                     torch.save(s["modulator"], d / "modulator_iter_160000.pth.tar")),
     "unexpected key 'weight3.0.conv_layer.bias'", "modulator_iter_160000"),
    ("wrong shape", lambda d, s: (_reshape(s, "style_encoder", "enc1.0.conv_layer.weight"),
                                  torch.save(s["style_encoder"], d / "style_encoder_iter_160000.pth.tar")),
     "'enc1.0.conv_layer.weight': expected shape (16, 3, 9, 9), got (16, 3, 3, 3)", "style_encoder"),
]


@pytest.mark.parametrize("spoil,first,second", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_sources_give_one_line_and_write_nothing(spoil, first, second, tmp_path, capsys):
    states = _random_states(1)
    d = _save(states, tmp_path / "models")
    spoil(d, states)
    out = tmp_path / "out.onnx"
    assert main(["convert", "microast", str(d), "-o", str(out)]) == 2
    line = one_error_line(capsys)
    assert first in line and second in line, line
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_a_file_instead_of_the_folder_is_refused(tmp_path, capsys):
    d = _save(_random_states(2), tmp_path / "models")
    out = tmp_path / "out.onnx"
    assert main(["convert", "microast", str(d / "decoder_iter_160000.pth.tar"), "-o", str(out)]) == 2
    assert "expected one folder holding upstream's four .pth.tar files" in one_error_line(capsys)
    assert not out.exists()


# The published checkpoints (../shared/models/microast).

@pytest.fixture(scope="module")
def published(shared):
    d = shared / "models" / "microast"
    if not (d / "LICENSE").is_file():
        pytest.fail(f"the published MicroAST checkpoints are missing from {d}")
    return d


@pytest.fixture(scope="module")
def published_converted(published, tmp_path_factory):
    out = tmp_path_factory.mktemp("microast_real") / "microast.onnx"
    argv = ["convert", "microast", str(published), "-o", str(out), "--json"]
    assert main(argv) == 0
    return out


def test_published_checkpoints_convert_within_the_bound(published, published_converted):
    meta = _session(published_converted).get_modelmeta().custom_metadata_map
    rows = json.loads(meta["impasto.parity"])["results"]
    assert len(rows) == 3 and all(r["max_abs_error"] <= 1e-4 for r in rows)
    digests = json.loads(meta["impasto.source_sha256"])
    for part, prefix in PUBLISHED_SHA256.items():
        assert digests[f"{part}_iter_160000.pth.tar"].startswith(prefix)
    # the graph against the test's own forward with the published weights, on a photo and a painting
    states = {p: torch.load(published / f"{p}_iter_160000.pth.tar", weights_only=True) for p in PARTS}
    c = _photo(str(ROOT / "assets" / "chelsea.jpg"), 128, 192)
    s = _photo(str(ROOT / "assets" / "astronaut.jpg"), 160, 160)
    with torch.no_grad():
        ref = upstream_forward(states, c, s).clamp(0, 1).numpy()
    got = _run(_session(published_converted), c, s)
    assert np.abs(got - ref).max() < 1e-4
    assert got.std() > 0.05 and 0.01 < got.mean() < 0.99  # not a flat or saturated image


def test_the_shipped_graph_is_a_fresh_conversion_of_the_published_files(published_converted):
    shipped = ARBITRARY_DIR / "microast.onnx"
    assert shipped.is_file() and (ARBITRARY_DIR / "MICROAST_LICENSE").is_file()
    assert "Copyright (c) 2022 Zhizhong Wang" in (ARBITRARY_DIR / "MICROAST_LICENSE").read_text()
    a, b = _session(shipped), _session(published_converted)
    ma, mb = a.get_modelmeta().custom_metadata_map, b.get_modelmeta().custom_metadata_map
    for key in ("impasto.source_sha256", "impasto.arbitrary", "impasto.input", "impasto.output", "impasto.method"):
        assert ma[key] == mb[key], key
    c = _photo(str(ROOT / "assets" / "astronaut.jpg"), 97, 131)
    s = _photo(str(ROOT / "assets" / "chelsea.jpg"), 120, 80)
    for alpha in (1.0, 0.6):
        assert np.abs(_run(a, c, s, alpha) - _run(b, c, s, alpha)).max() < 1e-6
