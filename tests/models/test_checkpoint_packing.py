"""``packed_state_dict``: the same tensors in one storage per dtype (a checkpoint of many small tensors shrinks)."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

from impasto.models.checkpoint import packed_state_dict  # noqa: E402


def _bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _size(obj) -> int:
    return len(_bytes(obj))


def test_packed_state_dict_keeps_values_and_saves_bytes():
    g = torch.Generator().manual_seed(0)
    state = {f"layer{i}.weight": torch.randn(3, 4, generator=g) for i in range(40)}
    state["half"] = torch.randn(5, generator=g).half()
    state["steps"] = torch.tensor(7)  # not floating point: kept as it is
    packed = packed_state_dict(state)
    assert list(packed) == list(state)
    for key, value in state.items():
        assert torch.equal(packed[key], value) and packed[key].dtype == value.dtype and packed[key].shape == value.shape
    assert packed["steps"] is state["steps"]
    assert len({t.untyped_storage().data_ptr() for k, t in packed.items() if k.startswith("layer")}) == 1
    loaded = torch.load(io.BytesIO(_bytes(packed)), weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert _size(packed) < _size(state) - 40 * 64  # at least one zip record's overhead less per merged tensor

