"""MUNIT training: the multi-scale discriminator, the losses, a short run with exact resume, --init, bad folders."""

from __future__ import annotations

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from impasto.cli.main import main  # noqa: E402
from impasto.errors import UserError  # noqa: E402
from impasto.models.checkpoint import load_checkpoint, weights_only_copy  # noqa: E402
from impasto.models.munit import MUNIT, MUNITConfig  # noqa: E402
from impasto.models.munit_discriminator import MsImageDis, MunitDiscriminatorConfig  # noqa: E402
from impasto.models.registry import build_from_checkpoint  # noqa: E402
from impasto.runtime.io.images import read_image, write_image  # noqa: E402
from impasto.training.configs import MunitTrainConfig  # noqa: E402
from impasto.training.munit import PREVIEW_INPUTS, train_munit  # noqa: E402
from impasto.training.munit_losses import discriminator_loss, generator_losses, translate_both  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a loaded 2-core machine two threads make these tiny networks tens of times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = {"dim": 4, "mlp_dim": 8, "n_res": 1, "style_dim": 3, "dis_dim": 4, "dis_layers": 2, "dis_scales": 2}


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    """Two small folders: blocky colour 'photos' (A) and striped 'paintings' (B), 72-90 px."""
    root = tmp_path_factory.mktemp("munit")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir()
        for i, (h, w) in enumerate([(72, 80), (90, 72), (80, 88)]):
            if name == "a":
                small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
                img = np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]
            else:
                img = np.full((h, w, 3), 30, dtype=np.uint8)
                img[:, i % 3::5] = rng.integers(100, 256, 3, dtype=np.uint8)
            write_image(root / name / f"{name}{i}.png", img)
    return root


def _cfg(domains, **kw) -> MunitTrainConfig:
    base = {"domain_a": str(domains / "a"), "domain_b": str(domains / "b"), "iters": 4, "size": 64,
            "checkpoint_every": 2, "preview_every": 4, "preview_styles": 2, **TINY}
    return MunitTrainConfig(**{**base, **kw})


def test_discriminator_judges_three_scales_each_pooled_once_more():
    dis = MsImageDis(MunitDiscriminatorConfig(dim=4, n_layer=2, num_scales=3))
    seen = []
    for net in dis.cnns:
        net.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    x = torch.rand(2, 3, 64, 48) * 2 - 1
    outs = dis(x)
    assert [tuple(o.shape) for o in outs] == [(2, 1, 16, 12), (2, 1, 8, 6), (2, 1, 4, 3)]
    pool = torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
    assert torch.equal(seen[0], x) and torch.allclose(seen[1], pool(x)) and torch.allclose(seen[2], pool(pool(x)))
    # the official parameter names: a conv block per layer, then the 1x1 scoring convolution
    assert {"cnns.0.0.conv.weight", "cnns.0.1.conv.weight", "cnns.2.2.weight"} <= set(dis.state_dict())


def test_lsgan_losses_follow_their_targets():
    dis = MsImageDis(MunitDiscriminatorConfig(dim=4, n_layer=2, num_scales=2))
    with torch.no_grad():
        for net in dis.cnns:  # every score = the scoring bias
            net[-1].weight.zero_()
            net[-1].bias.fill_(0.25)
    x = torch.rand(1, 3, 32, 32)
    assert dis.dis_loss(x, x).item() == pytest.approx(2 * (0.25 ** 2 + 0.75 ** 2))
    assert dis.gen_loss(x).item() == pytest.approx(2 * 0.75 ** 2)


def test_losses_are_finite_and_reconstruction_falls_on_a_fixed_batch(domains):
    cfg = _cfg(domains)
    torch.manual_seed(0)
    net = MUNIT(MUNITConfig(dim=4, mlp_dim=8, n_res=1, style_dim=3))
    dis_a, dis_b = MsImageDis(cfg.discriminator_config), MsImageDis(cfg.discriminator_config)
    gen_opt = torch.optim.Adam(net.parameters(), lr=3e-3, betas=(0.5, 0.999))
    dis_opt = torch.optim.Adam([*dis_a.parameters(), *dis_b.parameters()], lr=1e-3, betas=(0.5, 0.999))
    smooth = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 4) * 2 - 1, size=(32, 32), mode="bilinear")
    x_a, x_b = smooth[:2], smooth[2:]
    recon = []
    for _ in range(30):
        t = translate_both(net.gen_a, net.gen_b, x_a, x_b, torch.randn(2, 3, 1, 1), torch.randn(2, 3, 1, 1))
        d = discriminator_loss(dis_a, dis_b, t, cfg.gan_weight)
        dis_opt.zero_grad()
        d.backward()
        dis_opt.step()
        losses = generator_losses(net.gen_a, net.gen_b, dis_a, dis_b, t, cfg)
        assert all(torch.isfinite(v) for v in [d, *losses.values()])
        gen_opt.zero_grad()
        losses["total"].backward()
        gen_opt.step()
        recon.append(losses["recon_x"].item())
    assert losses["cycle"].item() == 0 and losses["vgg"].item() == 0  # off by default
    assert np.mean(recon[-5:]) < 0.7 * np.mean(recon[:5])


def test_optional_cycle_term_is_computed_when_weighted(domains):
    cfg = _cfg(domains, recon_x_cyc_weight=10.0)
    torch.manual_seed(0)
    net = MUNIT(MUNITConfig(dim=4, mlp_dim=8, n_res=1, style_dim=3))
    dis = MsImageDis(cfg.discriminator_config)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    t = translate_both(net.gen_a, net.gen_b, x, x.flip(-1), torch.randn(1, 3, 1, 1), torch.randn(1, 3, 1, 1))
    losses = generator_losses(net.gen_a, net.gen_b, dis, dis, t, cfg)
    weighted = (losses["adv"] + 10 * losses["recon_x"] + losses["recon_c"] + losses["recon_s"]
                + 10 * losses["cycle"])
    assert losses["cycle"].item() > 0 and losses["total"].item() == pytest.approx(weighted.item(), rel=1e-5)


def _rows(path) -> list[list[str]]:
    with open(path) as fh:
        return [r[:-1] for r in csv.reader(fh)]  # without the seconds column


def test_a_short_run_resumes_exactly_and_initialises_from_a_slim_checkpoint(domains, tmp_path):
    full = train_munit(_cfg(domains), tmp_path / "full.pt", progress=False)
    assert full["iterations"] == 4 and all(np.isfinite(v) for v in full["final_losses"].values())
    ckpt = load_checkpoint(tmp_path / "full.pt")
    assert ckpt["method"] == "munit" and set(ckpt["discriminator"]) == {"a", "b"} and ckpt["dis_optimizer"]
    assert ckpt["optimizer"]["param_groups"][0]["betas"] == (0.5, 0.999)
    net = build_from_checkpoint(ckpt)  # what impasto export rebuilds
    assert isinstance(net, MUNIT) and net.config.style_dim == 3
    sheet = read_image(tmp_path / "full.preview.jpg")
    assert sheet.shape == (2 * PREVIEW_INPUTS * 64, (2 + 2) * 64, 3)

    train_munit(_cfg(domains, iters=2), tmp_path / "part.pt", progress=False)
    train_munit(_cfg(domains), tmp_path / "part.pt", resume=True, progress=False)
    assert _rows(tmp_path / "part.losses.csv") == _rows(tmp_path / "full.losses.csv")
    resumed = load_checkpoint(tmp_path / "part.pt")
    assert all(torch.equal(v, resumed["state_dict"][k]) for k, v in ckpt["state_dict"].items())

    copy = weights_only_copy(tmp_path / "full.pt", tmp_path / "slim.pt")
    assert copy["dropped"] == ["dis_optimizer", "discriminator", "optimizer", "rng"]
    assert copy["bytes"] < (tmp_path / "full.pt").stat().st_size / 2
    slim = load_checkpoint(tmp_path / "slim.pt")["state_dict"]  # packed into one storage, values unchanged
    assert all(torch.equal(v, slim[k]) and v.dtype == slim[k].dtype for k, v in ckpt["state_dict"].items())
    with pytest.raises(UserError, match="got weights only; start a new run from it with --init"):
        train_munit(_cfg(domains, iters=5), tmp_path / "slim.pt", resume=True, progress=False)
    out = train_munit(_cfg(domains, iters=1), tmp_path / "next.pt", init=tmp_path / "slim.pt", progress=False)
    assert out["iterations"] == 1
    assert load_checkpoint(tmp_path / "next.pt")["card"]["init_from"]["checkpoint"] == "slim.pt"


def test_config_refuses_bad_sizes_and_names(domains):
    with pytest.raises(UserError, match="--size: expected a multiple of 16"):
        _cfg(domains, size=72)
    with pytest.raises(UserError, match="--size: expected >= 128"):
        _cfg(domains, size=64, dis_layers=4, dis_scales=4)
    with pytest.raises(UserError, match="--name-a/--name-b"):
        _cfg(domains, name_a="x", name_b="x")
    cfg = MunitTrainConfig(domain_a="a", domain_b="b")
    assert cfg.generator_sizes == (16, 64, 2) and (cfg.beta1, cfg.beta2) == (0.5, 0.999)
    assert cfg.model_config.style_dim == 8


@pytest.mark.parametrize("bad", ["missing", "empty"])
def test_a_bad_domain_folder_is_one_line_exit_2(domains, tmp_path, capsys, bad):
    folder = tmp_path / bad
    if bad == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("no images")
    code = main(["train", "munit", "--domain-a", str(domains / "a"), "--domain-b", str(folder),
                 "-o", str(tmp_path / "m.pt"), "--iters", "1", "--size", "64"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("impasto: error: --domain-b: expected a folder")
    assert not list(tmp_path.glob("m.*"))


@pytest.mark.parametrize(("name", "domains"), [("munit_edges2handbags", ("edges", "handbags")),
                                               ("munit_photo2painting", ("photo", "painting"))])
def test_the_trained_checkpoints_rebuild_and_translate(name, domains):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "checkpoints" / f"{name}.pt"
    assert path.stat().st_size <= 5_000_000  # kept in the repository: at most 5 MB each
    ckpt = load_checkpoint(path)
    assert ckpt["optimizer"] == {} and "discriminator" not in ckpt  # weights only: export and --init
    net = build_from_checkpoint(ckpt, method="munit")
    assert (net.config.domain_a, net.config.domain_b, net.config.style_dim) == (*domains, 8)
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        content, _ = net.gen_a.encode(x)
        y = net.gen_b.decode(content.expand(2, -1, -1, -1), torch.randn(2, 8, 1, 1))
    assert y.shape == (2, 3, 64, 64) and torch.isfinite(y).all() and y.abs().max() <= 1
    assert (y[0] - y[1]).abs().mean() > 1e-3  # two random styles give two different translations
