"""The stats form (``impasto export CKPT --norm-stats``) of a feed-forward network: contract, parity, both modes."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from impasto.cli.main import main  # noqa: E402
from impasto.contracts import STYLIZE_STATS  # noqa: E402
from impasto.errors import UserError  # noqa: E402
from impasto.export import export_checkpoint  # noqa: E402
from impasto.models.checkpoint import load_checkpoint  # noqa: E402
from impasto.models.norm_stats import ImageStatsForm  # noqa: E402
from impasto.models.registry import build_from_checkpoint  # noqa: E402
from impasto.models.transformer import ClampedOutput  # noqa: E402


@pytest.fixture(scope="module")
def stats_graph(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("stats") / "tiny.tiled.onnx"
    report = export_checkpoint(tiny_checkpoint, out, norm_stats=True, parity_sizes=((32, 32), (33, 47)))
    return out, report


def test_the_stats_form_follows_its_contract_and_records_both_modes_in_its_parity_table(stats_graph):
    path, report = stats_graph
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(STYLIZE_STATS.input_names)
    assert [o.name for o in sess.get_outputs()] == list(STYLIZE_STATS.output_names)
    meta = sess.get_modelmeta().custom_metadata_map
    layout = json.loads(meta["impasto.norm_stats"])
    assert meta["impasto.kind"] == "norm-stats"
    assert layout["channels"] == sum(layout["layers"]) == report["norm_channels"]
    assert {r["stats"] for r in report["parity"]} == {"own", "thumbnail"}
    assert json.loads(meta["impasto.parity"])["passed"] is True


def test_both_modes_match_torch_at_a_size_the_exporter_did_not_use(stats_graph, tiny_checkpoint):
    path, report = stats_graph
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = build_from_checkpoint(load_checkpoint(tiny_checkpoint), method="feedforward")
    plain = ClampedOutput(net).eval()
    t = report["norm_channels"]
    x = np.random.default_rng(3).random((1, 3, 57, 83), dtype=np.float32)
    own = {"image": x, "norm_stats": np.zeros((1, 2, t), np.float32), "stats_from_image": np.ones(1, np.float32)}
    y, stats = sess.run(None, own)
    with torch.no_grad():
        ref = plain(torch.from_numpy(x)).numpy()
    assert np.abs(y - ref).max() <= 1e-4  # own statistics: the plain network
    given = {**own, "image": np.ascontiguousarray(x[:, :, :32, :40]), "norm_stats": stats,
             "stats_from_image": np.zeros(1, np.float32)}
    form = ImageStatsForm(build_from_checkpoint(load_checkpoint(tiny_checkpoint), method="feedforward")).eval()
    with torch.no_grad():
        ref_tile, _ = form(*(torch.from_numpy(given[k]) for k in STYLIZE_STATS.input_names))
    assert np.abs(sess.run(None, given)[0] - ref_tile.numpy()).max() <= 1e-4


def test_norm_stats_is_refused_with_fp16_and_for_pipelines(tiny_checkpoint, tmp_path, capsys):
    with pytest.raises(UserError, match="--norm-stats: the stats form exports in float32"):
        export_checkpoint(tiny_checkpoint, tmp_path / "x.onnx", norm_stats=True, fp16=True)
    assert main(["export", "warpnet", "w.pt", "--norm-stats", "-o", str(tmp_path / "w.onnx")]) == 2
    assert "--norm-stats: applies to feed-forward and bank checkpoints" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.onnx"))
