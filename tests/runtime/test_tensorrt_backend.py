"""TensorRT backend: profiles, sidecar checks, the CUDA layer's errors, graph policy; GPU runs where possible.

Everything above the "real TensorRT" section runs without TensorRT and without a GPU.
The tests below it carry ``@pytest.mark.tensorrt`` and ``@pytest.mark.gpu`` and skip
unless ``import tensorrt`` works and a CUDA device answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from impasto.errors import (
    BackendUnavailableError,
    CudaError,
    EngineMismatchError,
    InputMismatchError,
    ModelError,
    UserError,
)
from impasto.runtime.backends.base import TensorSpec
from impasto.runtime.tensorrt import cuda_mem
from impasto.runtime.tensorrt.backend import CAPTURE, EAGER, REPLAY, CudaGraphPolicy, TensorRTBackend
from impasto.runtime.tensorrt.profile import (
    EngineProfile,
    check_profile_fits_input,
    check_within_profile,
    parse_shapes,
)
from impasto.runtime.tensorrt.sidecar import (
    EngineSidecar,
    check_compatible,
    check_engine_sha,
    read_sidecar,
    sha256_bytes,
    sidecar_path,
    write_engine_pair,
)

ROOT = Path(__file__).resolve().parents[2]
PROFILE = EngineProfile("image", (1, 3, 64, 64), (1, 3, 512, 512), (1, 3, 1080, 1920))


# -- --shapes parsing and profile checks ------------------------------------------------------------------

def test_parse_shapes_both_forms():
    full = parse_shapes("1x3x256x256,1x3x512x512,1x3x1080x1920")
    assert full == ((1, 3, 256, 256), (1, 3, 512, 512), (1, 3, 1080, 1920))
    assert parse_shapes("256x256, 512x512 ,1080X1920") == full
    assert parse_shapes("256x256,2x3x512x512,4x3x1080x1920")[2] == (4, 3, 1080, 1920)
    assert parse_shapes([(256, 256), (1, 3, 512, 512), "1080x1920"]) == full


@pytest.mark.parametrize("spec, match", [
    ("256x256,512x512", r"expected three shapes MIN,OPT,MAX"),
    ("256x256,512x512,1080x1920,2000x2000", r"expected three shapes"),
    ("256,512x512,1080x1920", r"expected min as NxCxHxW or HxW .* got '256'"),
    ("256x256,512x512,1x3x1080", r"expected max as NxCxHxW or HxW"),
    ("256x256,512xabc,1080x1920", r"expected opt as NxCxHxW or HxW"),
    ("1x1x256x256,1x1x512x512,1x1x1080x1920", r"channels must be 3 \(RGB\), got 1 in min 1x1x256x256"),
    ("0x3x256x256,1x3x512x512,1x3x1080x1920", r"batch must be >= 1, got 0"),
    ("4x4,512x512,1080x1920", r"height and width must be >= 5, got 4x4 in min"),
    ("512x512,256x256,1080x1920", r"expected min <= opt in every dim, got min 1x3x512x512 and opt 1x3x256x256 "
                                  r"\(height: 512 > 256\)"),
    ("256x256,512x2048,1080x1920", r"expected opt <= max .* \(width: 2048 > 1920\)"),
    ("2x3x64x64,1x3x64x64,2x3x64x64", r"\(batch: 2 > 1\)"),
])
def test_parse_shapes_errors(spec, match):
    with pytest.raises(UserError, match=match):
        parse_shapes(spec)


def test_feed_shapes_are_checked_against_the_profile_range():
    for ok in ((1, 3, 64, 64), (1, 3, 1080, 1920), (1, 3, 333, 517)):
        check_within_profile("image", ok, PROFILE)
    with pytest.raises(InputMismatchError, match=r"input 'image': expected a shape from 1x3x64x64 to 1x3x1080x1920 "
                                                 r"\(the engine's optimisation profile\), got 1x3x2000x1000 "
                                                 r"\(height 2000 is outside \[64, 1080\]"):
        check_within_profile("image", (1, 3, 2000, 1000), PROFILE)
    with pytest.raises(InputMismatchError, match=r"got 2x3x256x256 \(batch 2 is outside \[1, 1\]"):
        check_within_profile("image", (2, 3, 256, 256), PROFILE)
    with pytest.raises(InputMismatchError, match=r"width 32 is outside \[64, 1920\]"):
        check_within_profile("image", (1, 3, 256, 32), PROFILE)
    with pytest.raises(InputMismatchError, match=r"expected a shape from 1x3x64x64 to 1x3x1080x1920, got 3x256x256"):
        check_within_profile("image", (3, 256, 256), PROFILE)


def test_profile_must_fit_fixed_network_dims():
    shapes = parse_shapes("64x64,256x256,512x512")
    check_profile_fits_input("image", (-1, 3, -1, -1), shapes)
    with pytest.raises(UserError, match=r"has a fixed batch of 4, got min 1x3x64x64"):
        check_profile_fits_input("image", (4, 3, -1, -1), shapes)
    with pytest.raises(UserError, match=r"has 3 dims \?x3x\?, got min"):
        check_profile_fits_input("image", (-1, 3, -1), shapes)


def test_profile_round_trip_and_bad_dicts():
    assert EngineProfile.from_dict(PROFILE.to_dict()) == PROFILE
    assert PROFILE.describe() == "image: min 1x3x64x64, opt 1x3x512x512, max 1x3x1080x1920"
    for bad in ({"input": "image", "min": [1], "opt": [1]}, {"min": [1], "opt": [1], "max": [1]},
                {"input": "image", "min": [1, 3], "opt": [1, 3, 5], "max": [1, 3, 5]},
                {"input": "image", "min": [0], "opt": [1], "max": [True]}):
        with pytest.raises(ValueError):
            EngineProfile.from_dict(bad)


def test_backend_validate_adds_the_profile_range_to_the_base_checks(tmp_path):
    backend = TensorRTBackend(tmp_path / "x.engine")  # not opened: inputs/profiles set as open() would
    backend.inputs = [TensorSpec("image", np.dtype(np.float32), (None, 3, None, None))]
    backend.profiles = {"image": PROFILE}
    backend.validate({"image": np.zeros((1, 3, 100, 120), np.float32)})
    with pytest.raises(InputMismatchError, match="expected dtype float32, got float64"):
        backend.validate({"image": np.zeros((1, 3, 100, 120), np.float64)})
    with pytest.raises(InputMismatchError, match=r"width 2000 is outside \[64, 1920\]"):
        backend.validate({"image": np.zeros((1, 3, 100, 2000), np.float32)})


# -- sidecar: writing, reading, pairing, compatibility -----------------------------------------------------

def _sidecar(engine_data: bytes, engine_name: str = "style.engine", **changes) -> EngineSidecar:
    side = EngineSidecar(
        engine_file=engine_name, engine_sha256=sha256_bytes(engine_data), engine_bytes=len(engine_data),
        source_onnx={"path": "/models/style.onnx", "sha256": "ab" * 32}, tensorrt_version="10.9.0.34",
        gpu={"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}, precision="fp16",
        profiles=(PROFILE,), onnx_metadata={"impasto.style_name": "style", "impasto.input": '{"range": [0, 1]}'},
        impasto_version="0.1.0", builder_flags=("FP16",), input={"range": [0, 1]}, output={"range": [0, 1]},
        build_seconds=12.5, timing_cache="engines/timing.cache", built_at="2025-01-01T00:00:00+00:00")
    return replace(side, **changes)


def test_sidecar_round_trip_and_metadata(tmp_path):
    data = b"engine-bytes"
    engine = tmp_path / "style.engine"
    side = _sidecar(data)
    write_engine_pair(engine, data, side)
    assert engine.read_bytes() == data and sidecar_path(engine) == tmp_path / "style.json"
    back = read_sidecar(engine)
    assert back == side
    raw = json.loads((tmp_path / "style.json").read_text())
    assert raw["format"] == "impasto-engine" and raw["format_version"] == 1
    assert raw["profiles"] == [{"input": "image", "min": [1, 3, 64, 64], "opt": [1, 3, 512, 512],
                                "max": [1, 3, 1080, 1920]}]
    meta = back.metadata()
    assert meta["impasto.style_name"] == "style" and meta["impasto.input"] == '{"range": [0, 1]}'
    assert meta["impasto.engine.precision"] == "fp16" and meta["impasto.engine.gpu"] == "NVIDIA H100 80GB HBM3"
    assert json.loads(meta["impasto.engine.profiles"])[0]["max"] == [1, 3, 1080, 1920]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["style.engine", "style.json"]  # no temp files left


def test_engine_is_written_before_its_sidecar(tmp_path, monkeypatch):
    from impasto.runtime.tensorrt import sidecar as engine_sidecar

    order = []
    real = engine_sidecar.atomic_write_bytes
    monkeypatch.setattr(engine_sidecar, "atomic_write_bytes", lambda p, d: (order.append(Path(p).name), real(p, d)))
    write_engine_pair(tmp_path / "style.engine", b"abc", _sidecar(b"abc"))
    assert order == ["style.engine", "style.json"]


def test_write_engine_pair_refuses_a_sidecar_for_other_bytes(tmp_path):
    with pytest.raises(ValueError, match="does not describe this engine"):
        write_engine_pair(tmp_path / "style.engine", b"new", _sidecar(b"old"))
    with pytest.raises(ValueError, match="does not describe this engine"):
        write_engine_pair(tmp_path / "other.engine", b"new", _sidecar(b"new"))
    assert list(tmp_path.iterdir()) == []


def test_a_half_replaced_pair_is_detected(tmp_path, monkeypatch):
    from impasto.runtime.tensorrt import sidecar as engine_sidecar

    engine = tmp_path / "style.engine"
    write_engine_pair(engine, b"first build", _sidecar(b"first build"))
    real = engine_sidecar.atomic_write_bytes

    def crash_on_sidecar(path, data):
        if Path(path).suffix == ".json":
            raise KeyboardInterrupt  # the process dies between the two renames
        real(path, data)

    monkeypatch.setattr(engine_sidecar, "atomic_write_bytes", crash_on_sidecar)
    with pytest.raises(KeyboardInterrupt):
        write_engine_pair(engine, b"second build", _sidecar(b"second build"))
    side = read_sidecar(engine)  # still the first build's sidecar
    with pytest.raises(EngineMismatchError, match=r"does not match its sidecar .*style\.json.*half-replaced.*"
                                                  r"impasto build-engine /models/style\.onnx -o .*style\.engine "
                                                  r"--fp16"):
        check_engine_sha(engine, engine.read_bytes(), side)
    check_engine_sha(engine, b"first build", side)


def test_missing_or_bad_sidecar(tmp_path):
    engine = tmp_path / "style.engine"
    engine.write_bytes(b"x")
    with pytest.raises(EngineMismatchError, match=r"expected its sidecar '.*style\.json' next to it .* got no such "
                                                  r"file; rebuild"):
        read_sidecar(engine)
    sidecar = tmp_path / "style.json"
    sidecar.write_text("{not json")
    with pytest.raises(ModelError, match="cannot read it as JSON"):
        read_sidecar(engine)
    good = _sidecar(b"x").to_dict()
    for bad, match in (({**good, "format": "other"}, "expected an impasto engine sidecar"),
                       ({**good, "format_version": 2}, "expected format_version 1, got 2"),
                       ({k: v for k, v in good.items() if k != "engine_sha256"}, "field 'engine_sha256' must be a str"),
                       ({**good, "precision": "fp8"}, r"precision must be one of \['fp32', 'fp16', 'int8'\]"),
                       ({**good, "profiles": [{"input": "image"}]}, "profile min: expected a list"),
                       ({**good, "engine_bytes": True}, "field 'engine_bytes' must be a int")):
        sidecar.write_text(json.dumps(bad))
        with pytest.raises(ModelError, match=match):
            read_sidecar(engine)


def test_sidecar_keeps_unknown_fields(tmp_path):
    engine = tmp_path / "style.engine"
    write_engine_pair(engine, b"x", _sidecar(b"x"))
    raw = json.loads(sidecar_path(engine).read_text())
    sidecar_path(engine).write_text(json.dumps({**raw, "notes": "added by hand"}))
    assert read_sidecar(engine).to_dict()["notes"] == "added by hand"


def test_compatibility_with_this_machine():
    side = _sidecar(b"x")
    check_compatible("e/style.engine", side, tensorrt_version="10.9.0.34", gpu_name="NVIDIA H100 80GB HBM3",
                     compute_capability="9.0")
    with pytest.raises(EngineMismatchError) as info:
        check_compatible("e/style.engine", side, tensorrt_version="10.13.0.35", gpu_name="NVIDIA H100 80GB HBM3",
                         compute_capability="9.0")
    msg = str(info.value)
    assert "was built for TensorRT 10.9.0.34 (this machine has 10.13.0.35)" in msg and "GPU" not in msg
    assert ("rebuild it with `impasto build-engine /models/style.onnx -o e/style.engine --fp16 --shapes "
            "1x3x64x64,1x3x512x512,1x3x1080x1920`") in msg
    with pytest.raises(EngineMismatchError, match=r"built for GPU 'NVIDIA H100 80GB HBM3' \(this machine has "
                                                  r"'NVIDIA L4'\), compute capability 9\.0 \(this machine has 8\.9\)"):
        check_compatible("e/style.engine", side, tensorrt_version="10.9.0.34", gpu_name="NVIDIA L4",
                         compute_capability="8.9")
    int8 = _sidecar(b"x", precision="int8", calibration={"dir": "photos/calib"})
    with pytest.raises(EngineMismatchError, match=r"--int8 --calib photos/calib"):
        check_compatible("e/style.engine", int8, tensorrt_version="10.0.0", gpu_name="x", compute_capability="9.0")


# -- the CUDA layer without a GPU ---------------------------------------------------------------------------

class _FakeErr(int):
    """A cudaError_t-like enum member (int with a name), as cuda-python returns."""

    def __new__(cls, value: int, name: str):
        obj = int.__new__(cls, value)
        obj.name = name
        return obj


def _fake_runtime() -> types.SimpleNamespace:
    success = _FakeErr(0, "cudaSuccess")
    errors = types.SimpleNamespace(cudaSuccess=success,
                                   cudaErrorMemoryAllocation=_FakeErr(2, "cudaErrorMemoryAllocation"))
    texts = {2: b"out of memory"}
    return types.SimpleNamespace(cudaError_t=errors, cudaGetErrorString=lambda e: (success, texts.get(int(e), b"")))


def test_check_unwraps_values_and_types_errors():
    rt = _fake_runtime()
    ok = rt.cudaError_t.cudaSuccess
    assert cuda_mem.check("cudaStreamSynchronize", (ok,), rt) is None
    assert cuda_mem.check("cudaMalloc", (ok, 1234), rt) == 1234
    assert cuda_mem.check("cudaRuntimeGetVersion", (ok, 1, 2), rt) == (1, 2)
    with pytest.raises(CudaError, match=r"^cudaMalloc failed: cudaErrorMemoryAllocation \(out of memory\)$") as info:
        cuda_mem.check("cudaMalloc", (rt.cudaError_t.cudaErrorMemoryAllocation, None), rt)
    assert info.value.call == "cudaMalloc" and info.value.error_name == "cudaErrorMemoryAllocation"


def test_missing_cuda_python_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(cuda_mem, "_CUDART", None)
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(BackendUnavailableError, match=r"cuda-python is not installed: pip install 'impasto\[trt\]'"):
        cuda_mem.device_info(0)


def test_real_cuda_python_errors_carry_the_cuda_error_name():
    pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")
    rt = cuda_mem.cudart()
    with pytest.raises(CudaError, match=r"^cudaMalloc failed: cudaErrorMemoryAllocation \(out of memory\)$"):
        cuda_mem.check("cudaMalloc", (rt.cudaError_t.cudaErrorMemoryAllocation, None))
    err, count = rt.cudaGetDeviceCount()
    if err == rt.cudaError_t.cudaSuccess and count > 0:
        pytest.skip("a CUDA device is present: the no-GPU error path cannot be observed")
    with pytest.raises(CudaError, match=r"^cudaGetDeviceProperties failed: cudaError\w+") as info:
        cuda_mem.device_info(0)  # e.g. cudaErrorNoDevice or cudaErrorInsufficientDriver on a machine without a GPU
    assert info.value.error_name.startswith("cudaError")


def test_pinned_buffer_view_bounds():
    buf = object.__new__(cuda_mem.PinnedHostBuffer)  # no CUDA: only the bounds checks run
    buf.nbytes, buf.ptr = 16, 0
    with pytest.raises(ValueError, match="was freed"):
        buf.view(np.float32, (2, 2))
    buf.ptr = 1
    with pytest.raises(ValueError, match=r"\(2, 3\) float32 needs 24 bytes, the buffer has 16"):
        buf.view(np.float32, (2, 3))


# -- CUDA-graph policy (pure) -------------------------------------------------------------------------------

def test_graph_policy_warms_up_captures_then_replays_and_recaptures_on_a_new_shape():
    policy = CudaGraphPolicy()
    a, b = ((1, 3, 64, 64),), ((1, 3, 128, 64),)
    steps = []
    for shape in (a, a, a, a, b, b, b, a):
        plan = policy.plan(shape)
        steps.append((plan.shape_changed, plan.action))
        policy.ran(plan.action)
    assert steps == [(True, EAGER), (False, CAPTURE), (False, REPLAY), (False, REPLAY),
                     (True, EAGER), (False, CAPTURE), (False, REPLAY), (True, EAGER)]


def test_graph_policy_forgets_a_shape_that_could_not_be_set():
    policy = CudaGraphPolicy()
    shape = ((1, 3, 8, 8),)
    assert policy.plan(shape).shape_changed
    policy.forget_shape()  # set_input_shape was rejected
    plan = policy.plan(shape)
    assert plan.shape_changed and plan.action == EAGER


def test_graph_policy_disabled_or_failed_runs_eagerly():
    off = CudaGraphPolicy(enabled=False)
    assert [off.plan(((1, 3, 8, 8),)).action for _ in range(3)] == [EAGER] * 3
    assert off.disabled_reason == "disabled (cuda_graphs=False)"
    policy = CudaGraphPolicy()
    shape = ((1, 3, 8, 8),)
    policy.ran(policy.plan(shape).action)
    assert policy.plan(shape).action == CAPTURE
    policy.capture_failed("cudaStreamEndCapture failed: cudaErrorStreamCaptureUnsupported")
    policy.ran(EAGER)
    assert policy.plan(shape).action == EAGER and policy.plan(((1, 3, 9, 9),)).action == EAGER
    assert "cudaErrorStreamCaptureUnsupported" in policy.disabled_reason


# -- the backend without TensorRT ---------------------------------------------------------------------------

def test_open_without_tensorrt_says_how_to_install_it(tmp_path, monkeypatch):
    engine = tmp_path / "style.engine"
    engine.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    backend = TensorRTBackend(engine)
    with pytest.raises(BackendUnavailableError, match=r"the tensorrt backend needs TensorRT, which is not installed"
                                                      r".*pip install 'impasto\[trt\]'"):
        backend.open()
    assert not backend.is_open
    with pytest.raises(ModelError, match="no such file"):
        TensorRTBackend(tmp_path / "missing.engine").open()


def test_old_tensorrt_is_refused(tmp_path, monkeypatch):
    engine = tmp_path / "style.engine"
    engine.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="8.6.1"))
    with pytest.raises(BackendUnavailableError, match=r"needs TensorRT 10 or newer, got 8\.6\.1"):
        TensorRTBackend(engine).open()


def test_open_without_a_gpu_is_backend_unavailable(tmp_path, monkeypatch):
    pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")
    rt = cuda_mem.cudart()
    err, count = rt.cudaGetDeviceCount()
    if err == rt.cudaError_t.cudaSuccess and count > 0:
        pytest.skip("a CUDA device is present")
    engine = tmp_path / "style.engine"
    engine.write_bytes(b"x")
    # Only the version check touches `tensorrt` before the (real) CUDA calls fail.
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.9.0.34"))
    with pytest.raises(BackendUnavailableError, match=r"needs a CUDA GPU: device 0 is not usable "
                                                      r"\(cudaSetDevice failed: cudaError\w+"):
        TensorRTBackend(engine).open()


def test_importing_the_runtime_loads_neither_tensorrt_nor_cuda():
    code = ("import sys, impasto.runtime, impasto.runtime.tensorrt.backend, impasto.export.tensorrt_build, "
            "impasto.cli.main\n"
            "impasto.cli.main.build_parser()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorrt', 'cuda', 'torch', 'pycuda')"
            " or m == 'impasto.runtime.tensorrt.cuda_mem')\n"
            "assert not bad, bad\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# -- real TensorRT on a GPU -----------------------------------------------------------------------------------

def _real_trt_and_gpu():
    trt = pytest.importorskip("tensorrt")
    try:
        cuda_mem.device_info(0)
    except Exception as exc:  # no cuda-python, no driver, no device
        pytest.skip(f"no usable CUDA GPU here: {exc}")
    return trt


@pytest.fixture
def tiny_engine(request, tmp_path) -> tuple[Path, Path]:
    """``(engine, its ONNX model)``: the conftest's tiny model built for this GPU (skips first, exports second)."""
    _real_trt_and_gpu()
    from impasto.export.tensorrt_build import build_engine

    model = request.getfixturevalue("tiny_model")
    engine = tmp_path / "tiny.engine"
    build_engine(model, engine, shapes="16x16,48x64,96x96")
    return engine, model


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_real_engine_matches_onnx_runtime_and_replays_graphs(tiny_engine):
    import onnxruntime as ort

    engine, model = tiny_engine
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    with TensorRTBackend(engine) as backend:
        assert backend.inputs[0].name == "image" and backend.inputs[0].shape == (None, 3, None, None)
        assert backend.profiles["image"].max == (1, 3, 96, 96)
        assert backend.metadata["impasto.style_name"] == "tiny"
        for shape in ((1, 3, 48, 64), (1, 3, 48, 64), (1, 3, 48, 64), (1, 3, 33, 47), (1, 3, 33, 47)):
            x = rng.random(shape, dtype=np.float32)
            got = backend.run({"image": x})["stylized"]
            ref = sess.run(["stylized"], {"image": x})[0]
            assert got.shape == ref.shape
            np.testing.assert_allclose(got, ref, atol=1e-3)
        assert backend.counts == {EAGER: 2, CAPTURE: 2, REPLAY: 1}
        with pytest.raises(InputMismatchError, match="outside"):
            backend.run({"image": np.zeros((1, 3, 200, 200), np.float32)})


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_real_engine_refuses_a_foreign_sidecar(tiny_engine):
    engine, _ = tiny_engine
    side = read_sidecar(engine)
    sidecar_path(engine).write_text(replace(side, tensorrt_version="0.0.1").to_json())
    with pytest.raises(EngineMismatchError, match=r"built for TensorRT 0\.0\.1 .* impasto build-engine"):
        TensorRTBackend(engine).open()
