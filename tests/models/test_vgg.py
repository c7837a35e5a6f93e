import pytest
import torch

from impasto.errors import WeightsNotFoundError
from impasto.models import vgg as vgg_mod
from impasto.models.vgg import TAPS, VGG16Features, load_state_dict


@pytest.fixture(scope="module")
def net(vgg_weights):
    return VGG16Features(vgg_weights)


def test_taps_shapes_any_size(net):
    x = torch.rand(1, 3, 67, 45)
    out = net(x, ["relu1_1", "relu2_2", "relu3_3", "relu4_3", "relu5_3"])
    assert out["relu1_1"].shape == (1, 64, 67, 45)
    assert out["relu2_2"].shape == (1, 128, 33, 22)
    assert out["relu3_3"].shape == (1, 256, 16, 11)
    assert out["relu4_3"].shape == (1, 512, 8, 5)
    assert out["relu5_3"].shape == (1, 512, 4, 2)
    assert len(TAPS) == 18 and TAPS[0] == "relu1_1" and TAPS[-1] == "pool5"


def test_frozen_and_eval(net):
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    net(x, ["relu2_2"])["relu2_2"].sum().backward()  # gradients still flow to the input
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_unknown_tap_and_bad_shape(net):
    with pytest.raises(ValueError, match="unknown taps"):
        net(torch.rand(1, 3, 8, 8), ["conv9_9"])
    with pytest.raises(ValueError, match="expected Bx3xHxW, got"):
        net(torch.rand(3, 8, 8), ["relu1_1"])


def test_torchvision_layout_with_classifier_keys(vgg_weights, tmp_path):
    sd = torch.load(vgg_weights, map_location="cpu")
    sd = {**sd, "classifier.0.weight": torch.zeros(4, 4), "classifier.0.bias": torch.zeros(4)}
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(sd, path)
    a, b = VGG16Features(path), VGG16Features(vgg_weights)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(a(x, ["relu3_3"])["relu3_3"], b(x, ["relu3_3"])["relu3_3"])


def test_fp16_file_loads_as_fp32(vgg_weights, tmp_path):
    sd = torch.load(vgg_weights, map_location="cpu")
    half = tmp_path / "vgg_fp16.pth"
    torch.save({k: v.half() for k, v in sd.items()}, half)
    loaded = load_state_dict(half)
    assert all(v.dtype == torch.float32 for v in loaded.values())
    a, b = VGG16Features(half), VGG16Features(vgg_weights)
    x = torch.rand(1, 3, 32, 32)
    fa, fb = a(x, ["relu2_2"])["relu2_2"], b(x, ["relu2_2"])["relu2_2"]
    assert ((fa - fb).abs().max() / fb.abs().max()) < 2e-3


def test_env_variable_is_used(vgg_weights, monkeypatch):
    monkeypatch.setenv("IMPASTO_VGG16_WEIGHTS", vgg_weights)
    assert VGG16Features().weights_source == "env"


def test_missing_weights_message_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("IMPASTO_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty torch.hub cache

    def offline(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(vgg_mod.torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsNotFoundError, match="IMPASTO_VGG16_WEIGHTS") as exc:
        VGG16Features()
    assert "\n" not in str(exc.value)
    with pytest.raises(WeightsNotFoundError, match="IMPASTO_VGG16_WEIGHTS"):
        VGG16Features(allow_download=False)


def test_env_variable_pointing_nowhere(monkeypatch, tmp_path):
    monkeypatch.setenv("IMPASTO_VGG16_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsNotFoundError, match="IMPASTO_VGG16_WEIGHTS"):
        VGG16Features()


def test_not_a_vgg_file(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(WeightsNotFoundError, match="lacks"):
        load_state_dict(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(WeightsNotFoundError, match="cannot read"):
        load_state_dict(junk)


def test_hub_cache_is_used(vgg_weights, monkeypatch, tmp_path):
    monkeypatch.delenv("IMPASTO_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "vgg16-397923af.pth").symlink_to(vgg_weights)
    assert VGG16Features(allow_download=False).weights_source == "torch.hub cache"
