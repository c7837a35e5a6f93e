"""``impasto convert munit``: an official-layout ``gen_*.pt`` + YAML config -> two checked graphs.

The reference is :mod:`munit_upstream` (beside this file): the official generator's forward
written from the paper and the official layer order in plain ``torch.nn.functional`` over
the state dicts, independent of :mod:`impasto.models.munit`. The converted graphs run on
ONNX Runtime and are compared with it in both directions, with random codes and with a
reference image, for the official eval-mode norms (``running``) and the paper's (``instance``).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from support import load_module

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from impasto.cli.main import main  # noqa: E402

#: The official YAML gen: section, tiny (the official edges2handbags config: 64, 256, 8, 2, 4, relu, reflect).
GEN = {"dim": 4, "mlp_dim": 16, "style_dim": 3, "n_downsample": 2, "n_res": 2, "activ": "relu", "pad_type": "reflect"}
#: Bound of the comparison with the independent reference (float32 rounding through ~30 layers).
ATOL = 1e-4


UP = load_module(Path(__file__).parent / "munit_upstream.py", "impasto_tests_munit_upstream")


def _yaml(path: Path, gen: dict, **top: object) -> Path:
    lines = ["image_save_iter: 10000", "gan_w: 1", "input_dim_a: 3", "input_dim_b: 3",
             *(f"{k}: {v}" for k, v in top.items()), "gen:", *(f"  {k}: {v}" for k, v in gen.items()),
             "dis:", "  dim: 64", "  gan_type: lsgan"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    d = tmp_path_factory.mktemp("munit_official")
    gens = {"a": UP.random_generator(GEN, 1), "b": UP.random_generator(GEN, 2)}
    torch.save(gens, d / "gen_00010000.pt")
    return d, gens, _yaml(d / "edges2handbags_folder.yaml", GEN)


@pytest.fixture(scope="module")
def converted(official):
    d, gens, cfg = official
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["convert", "munit", str(d / "gen_00010000.pt"), "--config", str(cfg), "-o", str(d / "m.onnx"),
                     "--domain-a", "edges", "--domain-b", "handbags", "--json"])
    assert code == 0
    return json.loads(buf.getvalue())


def _run(path: str, image: np.ndarray, ref: np.ndarray, style: np.ndarray, weight: float) -> list[np.ndarray]:
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {"image": image, "reference": ref, "style": style,
                        "reference_weight": np.array([weight], np.float32)})


def test_converted_graphs_match_the_official_forward(official, converted) -> None:
    _, gens, _ = official
    assert [Path(p).name for p in converted["graphs"]] == ["m.a2b.onnx", "m.b2a.onnx"]
    rng = np.random.default_rng(5)
    image = rng.random((1, 3, 48, 64), dtype=np.float32)  # sides multiples of 4: no padding
    ref = rng.random((1, 3, 40, 56), dtype=np.float32)
    codes = rng.standard_normal((2, GEN["style_dim"])).astype(np.float32)
    worst = 0.0
    for path, (s, t) in zip(converted["graphs"], (("a", "b"), ("b", "a"))):
        with torch.no_grad():
            want_random = UP.translate(gens[s], gens[t], GEN, torch.from_numpy(image), torch.from_numpy(codes), True)
            ref_style = UP.style_code(gens[t], torch.from_numpy(ref) * 2 - 1)
            want_ref = UP.translate(gens[s], gens[t], GEN, torch.from_numpy(image), ref_style, True)
        got_random, _ = _run(path, image, ref[:, :, :16, :16], codes, 0.0)
        got_ref, got_style = _run(path, image, ref, np.zeros((1, GEN["style_dim"]), np.float32), 1.0)
        for got, want in ((got_random, want_random), (got_ref, want_ref), (got_style, ref_style)):
            worst = max(worst, float(np.abs(got - want.numpy()).max()))
        # real values, not a saturated tanh: the comparison means something
        inside = ((want_random > 0.02) & (want_random < 0.98)).float().mean()
        assert float(want_random.std()) > 0.05 and float(inside) > 0.5
        assert float(np.abs(got_random[0] - got_random[1]).max()) > 1e-2  # the style code matters
    assert worst <= ATOL, worst
    meta = ort.InferenceSession(converted["graphs"][0]).get_modelmeta().custom_metadata_map
    settings = json.loads(meta["impasto.munit"])
    assert settings["domains"] == {"a": "edges", "b": "handbags"} and settings["content_norm"] == "running"
    card = json.loads(meta["impasto.card"])["converted_from"]
    assert card["format"] == "munit" and [f["name"] for f in card["files"]] == ["gen_00010000.pt",
                                                                                "edges2handbags_folder.yaml"]
    assert max(r["max_abs_error"] for r in converted["parity"]) <= 1e-4
    assert {r["direction"] for r in converted["parity"]} == {"a2b", "b2a"}


def test_instance_norm_mode_matches_the_paper_forward(official) -> None:
    """``--content-norm instance``: the same weights with per-image statistics (checked in PyTorch, no export)."""
    from impasto.export.convert.munit import load_generators, read_config
    from impasto.models.munit import Translator

    d, gens, cfg = official
    for mode, running in (("instance", False), ("running", True)):
        net = load_generators(d / "gen_00010000.pt", read_config(cfg, content_norm=mode))
        image = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(1))
        codes = torch.randn(2, GEN["style_dim"], generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            got, _ = Translator(net, "b")(image, torch.rand(1, 3, 16, 16), codes, torch.zeros(1))
            want = UP.translate(gens["a"], gens["b"], GEN, image, codes, running)
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def _edited(d: Path, gens: dict, name: str, edit) -> Path:
    copy = {k: dict(v) for k, v in gens.items()}
    edit(copy)
    torch.save(copy, d / name)
    return d / name


@pytest.mark.parametrize(("edit", "message"), [
    (lambda g: g["a"].update({"enc_style.model.9.weight": torch.zeros(1)}),
     "unexpected key 'enc_style.model.9.weight'"),
    (lambda g: g["b"].pop("dec.model.2.norm.gamma"), "missing key 'dec.model.2.norm.gamma'"),
    (lambda g: g["a"].update({"mlp.model.2.fc.weight": torch.zeros(10, 16)}),
     "'mlp.model.2.fc.weight': expected shape (128, 16), got (10, 16)"),
    (lambda g: g.pop("b"), "expected a state dict under key 'b'"),
    (lambda g: g.update({"c": {}}), "unexpected top-level key 'c'"),
])
def test_bad_generators_are_one_line_errors(official, tmp_path, capsys, edit, message) -> None:
    d, gens, cfg = official
    bad = _edited(tmp_path, gens, "gen_bad.pt", edit)
    code, out, err = _cli(["convert", "munit", str(bad), "--config", str(cfg), "-o", str(tmp_path / "x.onnx")],
                          capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".munit-export-*"))


def test_old_files_without_num_batches_tracked_load(official, tmp_path) -> None:
    from impasto.export.convert.munit import load_generators, read_config

    d, gens, cfg = official
    old = _edited(tmp_path, gens, "gen_old.pt", lambda g: [s.pop(k) for s in g.values()
                                                          for k in [k for k in s if "num_batches" in k]])
    net = load_generators(old, read_config(cfg))
    torch.testing.assert_close(net.gen_a.enc_content.model[0].norm.running_var,
                               gens["a"]["enc_content.model.0.norm.running_var"])


@pytest.mark.parametrize(("gen", "top", "message"), [
    ({k: v for k, v in GEN.items() if k != "style_dim"}, {}, "missing key 'gen.style_dim'"),
    ({**GEN, "norm": "in"}, {}, "unknown key 'gen.norm'"),
    ({**GEN, "activ": "gelu"}, {}, "expected activ among"),
    (GEN, {"input_dim_a": 1}, "input_dim_a: expected 3 (RGB), got 1"),
])
def test_bad_configs_are_one_line_errors(official, tmp_path, capsys, gen, top, message) -> None:
    d, _, _ = official
    cfg = tmp_path / "c.yaml"
    _yaml(cfg, gen)
    if top:
        cfg.write_text(cfg.read_text().replace("input_dim_a: 3", f"input_dim_a: {top['input_dim_a']}"))
    code, _, err = _cli(["convert", "munit", str(d / "gen_00010000.pt"), "--config", str(cfg), "-o",
                         str(tmp_path / "x.onnx")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
