"""Graph contracts: one definition per graph, read by export, the runtime and the registry."""

from __future__ import annotations

import json

import pytest

from impasto import contracts
from impasto.contracts import CONTRACTS, contract
from impasto.errors import ModelError


def test_lookup_and_names():
    assert contract("bank").input_names == ("image", "style_weights", "content_layer_weights", "style_layer_weights")
    assert contract("photowct").output_names == ("stylized", "unsmoothed") and contract("wct").output_names == (
        "stylized",)
    assert contract("warp").input_names == ("content", "guide") and contract("warp").output_names == ("field", "warped")
    assert contract("multiscale").output_names == ("stylized_256", "stylized_512", "stylized_1024")
    with pytest.raises(ModelError, match="expected a graph contract among .*got 'nope'"):
        contract("nope")


def test_every_registered_method_names_a_contract():
    from impasto.models.registry import specs

    assert {s.contract for s in specs().values()} <= set(CONTRACTS)


def test_metadata_forms_the_runtime_reads():
    # graphs the Stylizer runs: impasto.input is one object whose range it reads
    for name in ("stylize", "bank", "multiscale"):
        spec = contract(name).input_metadata()
        assert isinstance(spec, dict) and spec["name"] == "image" and spec["range"] == [0, 1]
    assert isinstance(contract("stylize").output_metadata(), dict)
    assert [o["shape"] for o in contract("multiscale").output_metadata()] == [
        ["batch", 3, "height_4", "width_4"], ["batch", 3, "height_2", "width_2"], ["batch", 3, "height", "width"]]
    # the others: lists, also for one output
    assert [o["name"] for o in contract("wct").output_metadata()] == ["stylized"]
    field = contract("warp").output_metadata()[0]
    assert "range" not in field and "color" not in field and field["units"].startswith("normalised offsets")
    alpha = contract("photowct").input_metadata()[-1]
    assert (alpha["layout"], alpha["shape"]) == ("scalar", [1])
    json.dumps([c.input_metadata() for c in CONTRACTS.values()])  # plain JSON


def test_metadata_keys():
    assert contract("multiscale").kind == contracts.MULTISCALE_KIND == "multiscale"
    assert contracts.MULTISCALE_METADATA_KEY in contract("multiscale").metadata_keys
    assert "impasto.wct" in contract("photowct").metadata_keys and "impasto.parity" in contract("warp").metadata_keys
    assert set(contract("bank").metadata) == {"impasto.styles", "impasto.content_layers", "impasto.style_layers"}


def test_suffixes():
    assert contracts.MODEL_SUFFIXES == (".onnx", ".engine", ".plan", ".trt")
    assert contracts.ENGINE_SUFFIX in contracts.ENGINE_SUFFIXES


def test_the_runtime_uses_the_contracts_names():
    from impasto.runtime import builtins
    from impasto.runtime.backends import selection
    from impasto.runtime.pipelines import bank, multiscale, photoreal, warp

    assert bank.BANK_INPUTS is contracts.BANK_INPUTS and builtins.MODEL_SUFFIXES is contracts.MODEL_SUFFIXES
    assert photoreal._REQUIRED_INPUTS is contracts.WCT_INPUTS and selection.ENGINE_SUFFIXES is contracts.ENGINE_SUFFIXES
    assert (warp._REQUIRED_INPUTS, warp._REQUIRED_OUTPUTS) == (contracts.WARP_INPUTS, contracts.WARP_OUTPUTS)
    assert multiscale.METADATA_KEY == contracts.MULTISCALE_METADATA_KEY

