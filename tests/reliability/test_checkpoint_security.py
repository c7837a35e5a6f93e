"""Class 1 (security): no file handed to impasto runs code; old checkpoints get a one-line way forward.

Every test here failed on main at 973f7ac, where checkpoints were read with
``weights_only=False``: the pickled ``__reduce__`` ran (the marker file appeared) before
any check, and the VGG16 loader printed torch's six-line message with colour codes.
"""

from __future__ import annotations

import io
import pathlib

import pytest

torch = pytest.importorskip("torch")

from impasto.cli.main import main  # noqa: E402
from impasto.errors import ModelError, WeightsNotFoundError  # noqa: E402
from impasto.models.checkpoint import FORMAT, load_checkpoint, save_checkpoint  # noqa: E402


class _Payload:
    """Unpickling this creates ``marker``: the stand-in for arbitrary code in a hostile file."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _hostile_checkpoint(path: pathlib.Path, marker: pathlib.Path, real: pathlib.Path) -> pathlib.Path:
    """A real checkpoint's contents plus a code-running object in its card."""
    ckpt = torch.load(real, weights_only=True)
    ckpt["card"] = {**ckpt["card"], "evil": _Payload(marker)}
    torch.save(ckpt, path)
    return path


def _one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert "\x1b[" not in lines[0], "colour codes in an error line"
    return lines[0]


def test_a_hostile_checkpoint_is_refused_before_any_code_runs(tiny_checkpoint, tmp_path):
    marker = tmp_path / "pwned"
    evil = _hostile_checkpoint(tmp_path / "evil.pt", marker, tiny_checkpoint)
    with pytest.raises(ModelError, match="refused.*upgrade-checkpoint"):
        load_checkpoint(evil)
    assert not marker.exists()


@pytest.mark.parametrize("command", [
    ["export", "{ckpt}", "-o", "{out}"],
    ["export", "photowct", "{ckpt}", "-o", "{out}"],
    ["export", "warpnet", "{ckpt}", "-o", "{out}"],
])
def test_the_cli_refuses_it_in_one_line_with_exit_2(command, tiny_checkpoint, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = _hostile_checkpoint(tmp_path / "evil.pt", marker, tiny_checkpoint)
    out = tmp_path / "out.onnx"
    argv = [a.format(ckpt=evil, out=out) for a in command]
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert "refused" in line and "upgrade-checkpoint" in line
    assert not marker.exists() and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pt"]


def test_an_old_checkpoint_is_refused_then_upgraded_on_request(tiny_checkpoint, tmp_path, capsys):
    """Checkpoints written before the rule held a TorchVersion (a str subclass) in the card."""
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["card"] = {**ckpt["card"], "torch": torch.__version__, "source": pathlib.Path("runs/x.pt")}
    old = tmp_path / "old.pt"
    torch.save(ckpt, old)
    original = old.read_bytes()
    with pytest.raises(ModelError, match=f"impasto upgrade-checkpoint {old} -o NEW.pt"):
        load_checkpoint(old)

    new = tmp_path / "new.pt"
    assert main(["upgrade-checkpoint", str(old), "-o", str(new), "--json"]) == 0
    assert "torch.torch_version.TorchVersion" in capsys.readouterr().out
    got = load_checkpoint(new)
    assert got["card"]["torch"] == str(torch.__version__) and type(got["card"]["torch"]) is str
    assert got["card"]["source"] == "runs/x.pt"
    for k, v in ckpt["state_dict"].items():
        assert torch.equal(got["state_dict"][k], v)
    assert old.read_bytes() == original  # the original is untouched


def test_upgrade_never_runs_a_hostile_file_either(tiny_checkpoint, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = _hostile_checkpoint(tmp_path / "evil.pt", marker, tiny_checkpoint)
    assert main(["upgrade-checkpoint", str(evil), "-o", str(tmp_path / "new.pt")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "builtins.getattr" in line and "nothing in the file was run" in line, line  # how Path.touch pickles
    assert not marker.exists() and not (tmp_path / "new.pt").exists()


def test_upgrade_refuses_to_overwrite_its_input(tiny_checkpoint, tmp_path, capsys):
    copy = tmp_path / "c.pt"
    copy.write_bytes(tiny_checkpoint.read_bytes())
    before = copy.read_bytes()
    assert main(["upgrade-checkpoint", str(copy), "-o", str(copy)]) == 2
    assert "other than the input" in _one_line(capsys.readouterr().err)
    assert copy.read_bytes() == before


def test_save_refuses_what_load_would_refuse(tmp_path):
    target = tmp_path / "x.pt"
    with pytest.raises(ModelError, match=r"plain data and tensors only.*\['card'\]"):
        save_checkpoint(target, {"method": "feedforward", "card": {"torch": torch.__version__}})
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_a_hostile_vgg_file_gets_one_clean_line(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": _Payload(marker)}, bad)
    from impasto.models.vgg import load_state_dict

    with pytest.raises(WeightsNotFoundError) as info:
        load_state_dict(bad)
    assert "unpickling can run code" in _one_line(str(info.value))
    assert not marker.exists()


def test_the_format_check_still_applies(tmp_path):
    p = tmp_path / "plain.pt"
    buf = io.BytesIO()
    torch.save({"format": "something/else"}, buf)
    p.write_bytes(buf.getvalue())
    with pytest.raises(ModelError, match=f"expected format {FORMAT!r}"):
        load_checkpoint(p)
