"""MUNIT generators: the official state-dict layout, shapes, AdaIN wiring and the exported direction."""

from __future__ import annotations

import pytest
import torch

from impasto.models.munit import MUNIT, MUNITConfig, Translator, adain_param_count
from impasto.models.registry import build_from_checkpoint, get_spec

TINY = MUNITConfig(dim=4, mlp_dim=8, style_dim=3, n_downsample=2, n_res=1)


def test_state_dict_has_the_official_names_and_shapes() -> None:
    sd = MUNIT(MUNITConfig()).gen_a.state_dict()
    # a few keys of an official edges2handbags gen_*.pt['a'] (default config), with their shapes
    expected = {
        "enc_style.model.0.conv.weight": (64, 3, 7, 7),
        "enc_style.model.4.conv.weight": (256, 256, 4, 4),
        "enc_style.model.6.weight": (8, 256, 1, 1),
        "enc_content.model.2.conv.weight": (256, 128, 4, 4),
        "enc_content.model.3.model.3.model.1.norm.running_var": (256,),
        "dec.model.0.model.0.model.0.norm.running_mean": (256,),
        "dec.model.2.norm.gamma": (128,),
        "dec.model.4.conv.weight": (64, 128, 5, 5),
        "dec.model.5.conv.weight": (3, 64, 7, 7),
        "mlp.model.0.fc.weight": (256, 8),
        "mlp.model.2.fc.weight": (4096, 256),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert adain_param_count(MUNITConfig()) == 4096
    assert not any(k.startswith("enc_style") and "norm" in k for k in sd)


def test_translate_uses_the_style_codes_and_keeps_odd_sizes() -> None:
    torch.manual_seed(0)
    net = MUNIT(TINY).eval()
    graph = Translator(net, "b")
    image, reference = torch.rand(1, 3, 36, 20), torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        out, ref_style = graph(image, reference, torch.randn(2, 3), torch.zeros(1))
        by_ref, ref_style2 = graph(image, reference, torch.zeros(1, 3), torch.ones(1))
        direct = net.gen_b.decode(net.gen_a.enc_content(image * 2 - 1), net.gen_b.enc_style(reference * 2 - 1))
        odd, _ = graph(torch.rand(1, 3, 37, 22), reference, torch.randn(1, 3), torch.zeros(1))
    assert out.shape == (2, 3, 36, 20) and ref_style.shape == (1, 3) and odd.shape == (1, 3, 37, 22)
    assert (out[0] - out[1]).abs().max() > 1e-4  # two styles, two images
    torch.testing.assert_close(ref_style, ref_style2)
    torch.testing.assert_close(by_ref, ((direct + 1) / 2).clamp(0, 1))


def test_content_norm_running_uses_the_stored_statistics() -> None:
    torch.manual_seed(0)
    net = MUNIT(TINY).eval()
    running = MUNIT(MUNITConfig(**{**TINY.to_dict(), "content_norm": "running"})).eval()
    running.load_state_dict(net.state_dict())
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        # fresh running stats are mean 0 / var 1: the first norm is the identity there
        first = running.gen_a.enc_content.model[0]
        raw = first.conv(first.pad(x))
        torch.testing.assert_close(first.norm(raw), raw, atol=1e-4, rtol=0)
        assert (net.gen_a.enc_content(x) - running.gen_a.enc_content(x)).abs().max() > 1e-3


def test_registry_rebuilds_a_checkpoint() -> None:
    net = MUNIT(TINY)
    ckpt = {"method": "munit", "model": {"arch": "MUNIT", "config": TINY.to_dict()}, "state_dict": net.state_dict()}
    rebuilt = build_from_checkpoint(ckpt, method="munit")
    torch.testing.assert_close(rebuilt.gen_b.mlp.model[0].fc.weight, net.gen_b.mlp.model[0].fc.weight)
    assert get_spec("munit").contract == "translate"


@pytest.mark.parametrize("bad", [{"activ": "gelu"}, {"pad_type": "circular"}, {"dim": 0},
                                 {"content_norm": "batch"}, {"domain_a": "x", "domain_b": "x"}])
def test_bad_configs_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="expected"):
        MUNITConfig(**bad)
