"""``StreamPipeline``: no drops for files, newest-frame-wins for live sources, clean ends, keys, workers side by
side (in order, stabilised in order), a soak run."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from impasto.errors import StreamError, UserError
from impasto.runtime.io.video import VideoReader, write_video
from impasto.runtime.stream.live import StreamConfig, StreamPipeline, _median_and_p95, handle_key
from impasto.runtime.stream.video import VideoOptions, stylize_video


def pattern(n: int, w: int = 32, h: int = 24) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(rng.random((h, w, 3)) * 255).astype(np.uint8) for _ in range(n)]


class FakeSource:
    """A frame source: ``n`` frames, ``period`` seconds apart; ``fail_after`` raises like an unplugged camera."""

    def __init__(self, n: int, *, live: bool = True, period: float = 0.0, fail_after: int | None = None) -> None:
        self.frames = pattern(min(n, 8))
        self.n, self.period, self.fail_after = n, period, fail_after
        self.is_live, self.fps, self.name = live, 30.0, "fake camera"
        self.read_count = 0
        self.closed = False
        self.end_reason = "fake source ended"

    def read(self):
        if self.fail_after is not None and self.read_count >= self.fail_after:
            raise StreamError("fake camera: stopped delivering frames (disconnected?)")
        if self.read_count >= self.n:
            return None
        if self.period:
            time.sleep(self.period)
        self.read_count += 1
        return self.frames[self.read_count % len(self.frames)]

    def close(self) -> None:
        self.closed = True


class FakeStylizer:
    """Inverts the frame after ``delay`` seconds; ``fail_at`` raises on that call."""

    provider = "FakeProvider"

    def __init__(self, name: str = "fake", *, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.name, self.delay, self.fail_at = name, delay, fail_at
        self.calls = 0
        self.strengths: list[float] = []
        self.closed = False

    def __call__(self, image, *, strength=1.0, preserve_colors=False):
        self.calls += 1
        self.strengths.append(strength)
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("out of memory (fake)")
        if self.delay:
            time.sleep(self.delay)
        return 255 - image

    def close(self) -> None:
        self.closed = True


def no_pipeline_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("impasto-")]


def test_file_source_keeps_every_frame_in_order(tiny_model, tmp_path):
    from impasto.runtime import Stylizer

    write_video(tmp_path / "clip.avi", pattern(24), fps=24)
    indices = []
    with Stylizer.load(str(tiny_model), backend="ort-cpu") as stylizer:
        pipeline = StreamPipeline(VideoReader(tmp_path / "clip.avi"), stylizer)
        summary = pipeline.run(on_frame=lambda f: indices.append(f.index))
    assert not pipeline.drop_frames
    assert indices == list(range(24))
    assert (summary.frames_in, summary.frames_out, summary.frames_dropped) == (24, 24, 0)
    assert summary.reason == "end of file after 24 frames" and summary.error is None
    assert summary.style == "tiny" and summary.provider == "CPUExecutionProvider"
    assert 0 < summary.latency_ms_p50 <= summary.latency_ms_p95
    assert no_pipeline_threads()


def test_frame_limit_stops_after_n_captured_frames():
    source = FakeSource(100, live=False)
    summary = StreamPipeline(source, FakeStylizer(), StreamConfig(max_frames=10)).run()
    assert (summary.frames_in, summary.frames_out, summary.frames_dropped) == (10, 10, 0)
    assert summary.reason == "frame limit reached (10 frames)"
    assert source.closed and source.read_count == 10


def test_live_source_drops_late_frames_and_latency_stays_bounded():
    source = FakeSource(300, live=True, period=0.001)  # ~1000 fps camera
    stylizer = FakeStylizer(delay=0.01)                  # ~100 fps model
    delivered = []
    summary = StreamPipeline(source, stylizer).run(on_frame=lambda f: delivered.append(f))
    assert summary.frames_in == 300 and summary.reason == "fake source ended"
    assert summary.frames_dropped > 100
    assert summary.frames_in == summary.frames_out + summary.frames_dropped
    assert summary.frames_out == len(delivered) and stylizer.calls >= summary.frames_out
    latencies = [f.latency_ms for f in delivered]
    # newest frame wins: a frame waits at most about one model call, so latency does not grow over the run
    assert max(latencies) < 200
    assert np.median(latencies[-10:]) < 3 * np.median(latencies[:10]) + 20
    assert [f.index for f in delivered] == sorted(f.index for f in delivered)


def test_source_that_fails_mid_stream_ends_cleanly():
    source = FakeSource(100, fail_after=7)
    pipeline = StreamPipeline(source, FakeStylizer(), StreamConfig(drop_frames=False))
    summary = pipeline.run()
    assert summary.frames_in == 7 and summary.frames_out == 7
    assert summary.reason == "source failed: fake camera: stopped delivering frames (disconnected?)"
    assert summary.error is None and source.closed and no_pipeline_threads()


def test_stylizer_failure_ends_the_stream_with_the_error():
    source = FakeSource(50, live=False)
    pipeline = StreamPipeline(source, FakeStylizer(fail_at=4))
    summary = pipeline.run()
    assert summary.reason == "stylizer failed: out of memory (fake)"
    assert summary.error == "RuntimeError: out of memory (fake)" and isinstance(pipeline.error, RuntimeError)
    assert summary.frames_out == 3
    assert summary.frames_in == summary.frames_out + summary.frames_dropped
    assert source.closed and no_pipeline_threads()


def test_interrupt_in_the_consumer_stops_joins_and_closes():
    source = FakeSource(1000, live=False)
    pipeline = StreamPipeline(source, FakeStylizer())

    def on_frame(frame):
        if frame.index == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.run(on_frame=on_frame)
    assert pipeline.summary.reason == "interrupted" and pipeline.summary.frames_out == 6
    assert source.closed and no_pipeline_threads()


def test_keys_quit_change_strength_and_switch_styles():
    loaded = {}

    def load_style(name):
        loaded[name] = FakeStylizer(name)
        return loaded[name]

    first = FakeStylizer("a")
    pipeline = StreamPipeline(FakeSource(200, live=False), first, StreamConfig(strength=0.5),
                              styles=["a", "b", "c"], load_style=load_style)
    styles_seen = []

    def on_frame(frame):
        styles_seen.append(pipeline.style)
        if frame.index == 2:
            handle_key(pipeline, ord("n"))
            handle_key(pipeline, ord("+"))
        if frame.index == 30:
            handle_key(pipeline, ord("p"))
            handle_key(pipeline, ord("p"))  # a -> c, wrapping around
            handle_key(pipeline, ord("-"))
            handle_key(pipeline, ord("-"))
        if frame.index == 60:
            handle_key(pipeline, ord("q"))

    summary = pipeline.run(on_frame=on_frame)
    assert summary.reason == "quit by the user"
    assert "b" in styles_seen and summary.style == "c"
    assert loaded["b"].closed and loaded["c"].closed  # the pipeline closes the stylizers it loaded
    assert not first.closed  # the caller's stylizer stays the caller's
    assert pytest.approx(0.6) in loaded["b"].strengths
    assert loaded["c"].strengths[-1] == pytest.approx(0.4)
    assert pipeline.overlay_lines()[1] == "c  strength 0.4  stabilize 0.0"


def test_switching_between_a_banks_styles_changes_its_input_without_a_reload():
    from impasto.runtime import Stylizer
    from impasto.runtime.builtins import builtin_styles

    bank_styles = [name for name, style in builtin_styles().items() if style.bank]
    assert len(bank_styles) >= 2

    def load_style(name):
        raise AssertionError(f"{name} is a style of the open bank: it must not be loaded again")

    with Stylizer.load(bank_styles[0], backend="ort-cpu") as stylizer:
        pipeline = StreamPipeline(FakeSource(40, live=False), stylizer, StreamConfig(),
                                  styles=bank_styles, load_style=load_style)
        last = []

        def on_frame(frame):
            last[:] = [pipeline.style, frame.content, frame.image]
            if frame.index == 2:
                handle_key(pipeline, ord("n"))
            if frame.index == 20:
                handle_key(pipeline, ord("q"))

        summary = pipeline.run(on_frame=on_frame)
        assert summary.style == bank_styles[1] and pipeline.stylizer is stylizer
        assert stylizer.style_weights[1] == 1.0 and stylizer.style_weights.sum() == 1.0
    style, content, image = last
    with Stylizer.load(bank_styles[1], backend="ort-cpu") as second, \
            Stylizer.load(bank_styles[0], backend="ort-cpu") as first:
        assert style == bank_styles[1]
        assert np.array_equal(image, second(content))  # rendered with the second style's input
        assert np.abs(image.astype(int) - first(content).astype(int)).mean() > 2


def test_realtime_paces_a_file_like_a_camera():
    source = FakeSource(10, live=False)
    source.fps = 50.0
    t0 = time.perf_counter()
    pipeline = StreamPipeline(source, FakeStylizer(), StreamConfig(realtime=True))
    summary = pipeline.run()
    assert pipeline.drop_frames and summary.frames_in == 10
    assert time.perf_counter() - t0 >= 9 / 50 - 0.01


@pytest.mark.parametrize("kwargs", [{"strength": 2.0}, {"stabilize": 1.5}, {"size": (0, 10)}, {"max_frames": 0}])
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(UserError):
        StreamConfig(**kwargs)


def test_a_pipeline_runs_once():
    pipeline = StreamPipeline(FakeSource(2, live=False), FakeStylizer())
    pipeline.run()
    with pytest.raises(RuntimeError, match="runs once"):
        pipeline.run()


# ----------------------------------------------------------------- workers
class ConcurrentFake(FakeStylizer):
    """A FakeStylizer that may be called from several threads and records how many calls overlapped."""

    supports_concurrent_calls = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.active = self.max_active = 0

    def __call__(self, image, *, strength=1.0, preserve_colors=False):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            return super().__call__(image, strength=strength, preserve_colors=preserve_colors)
        finally:
            with self._lock:
                self.active -= 1


class TaggedSource(FakeSource):
    """Frames whose top-left pixel holds their index, so an out-of-order delivery shows."""

    def read(self):
        frame = super().read()
        if frame is None:
            return None
        frame = frame.copy()
        frame[0, 0] = self.read_count - 1
        return frame


def run(workers: int, *, n: int = 24, stabilize: float = 0.0, delay: float = 0.0):
    stylizer = ConcurrentFake(delay=delay)
    delivered = []
    pipeline = StreamPipeline(TaggedSource(n, live=False), stylizer, StreamConfig(workers=workers, stabilize=stabilize))
    summary = pipeline.run(on_frame=delivered.append)
    return summary, delivered, stylizer


def test_workers_overlap_and_frames_come_out_in_order():
    summary, delivered, stylizer = run(3, delay=0.02)
    assert stylizer.max_active >= 2  # the calls really ran side by side ...
    assert stylizer.max_active <= 3  # ... never more than the workers asked for
    assert [f.index for f in delivered] == list(range(24))
    for f in delivered:
        assert f.content[0, 0, 0] == f.index  # each result belongs to its own frame
        assert np.array_equal(f.image, 255 - f.content)
    assert (summary.frames_in, summary.frames_out, summary.frames_dropped) == (24, 24, 0)
    assert no_pipeline_threads()


def test_stabilised_output_is_the_same_with_one_worker_or_three():
    _, one, _ = run(1, stabilize=0.6)
    _, three, _ = run(3, stabilize=0.6, delay=0.003)
    assert len(one) == len(three) == 24
    for a, b in zip(one, three):
        assert np.array_equal(a.image, b.image)
    assert any(not np.array_equal(f.image, 255 - f.content) for f in three[1:])  # stabilisation did change frames


def test_a_failing_call_ends_the_stream_and_every_frame_is_accounted_for():
    stylizer = ConcurrentFake(delay=0.005, fail_at=6)
    delivered = []
    source = FakeSource(40, live=False)
    pipeline = StreamPipeline(source, stylizer, StreamConfig(workers=2))
    summary = pipeline.run(on_frame=delivered.append)
    assert summary.error == "RuntimeError: out of memory (fake)" and summary.reason.startswith("stylizer failed")
    assert [f.index for f in delivered] == list(range(len(delivered))) and len(delivered) <= 5
    assert summary.frames_in == summary.frames_out + summary.frames_dropped
    assert source.closed and no_pipeline_threads()


def test_an_interrupt_with_frames_in_flight_stops_and_joins():
    source = FakeSource(500, live=False)
    pipeline = StreamPipeline(source, ConcurrentFake(delay=0.002), StreamConfig(workers=2))

    def on_frame(frame):
        if frame.index == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.run(on_frame=on_frame)
    summary = pipeline.summary
    assert summary.reason == "interrupted" and summary.frames_out == 6
    assert summary.frames_in == summary.frames_out + summary.frames_dropped
    assert source.closed and no_pipeline_threads()


def test_workers_are_refused_where_frames_may_be_dropped_or_calls_cannot_overlap():
    with pytest.raises(UserError, match="workers: expected a positive integer, got 0"):
        StreamConfig(workers=0)
    with pytest.raises(UserError, match="workers: expected 1 for a live stream"):
        StreamPipeline(FakeSource(5, live=True), ConcurrentFake(), StreamConfig(workers=2))
    with pytest.raises(UserError, match="its calls cannot overlap"):
        StreamPipeline(FakeSource(5, live=False), FakeStylizer(), StreamConfig(workers=2))
    with pytest.raises(UserError, match="switched by loading other models"):
        StreamPipeline(FakeSource(5, live=False), ConcurrentFake(), StreamConfig(workers=2), styles=["a"],
                       load_style=lambda name: ConcurrentFake(name=name))
    with pytest.raises(UserError, match="workers: expected a positive integer"):
        VideoOptions(workers=0)


def test_a_cpu_session_takes_overlapping_calls_and_a_video_is_the_same_with_two_workers(tiny_model, tmp_path):
    from impasto.runtime import Stylizer

    rng = np.random.default_rng(1)
    tex = (rng.random((48, 64 + 20, 3)) * 255).astype(np.uint8)
    write_video(tmp_path / "in.avi", [tex[:, i:i + 64] for i in range(10)], fps=10)
    with Stylizer.load(str(tiny_model), backend="ort-cpu", threads=1) as stylizer:
        assert stylizer.supports_concurrent_calls
        one = stylize_video(tmp_path / "in.avi", tmp_path / "one.avi", stylizer, VideoOptions(stabilize=0.5),
                            ffmpeg=None)
        two = stylize_video(tmp_path / "in.avi", tmp_path / "two.avi", stylizer,
                            VideoOptions(stabilize=0.5, workers=2), ffmpeg=None)
    assert (one.workers, two.workers, two.frames) == (1, 2, 10)
    with VideoReader(tmp_path / "one.avi") as a, VideoReader(tmp_path / "two.avi") as b:
        for x, y in zip(list(a), list(b), strict=True):
            assert np.array_equal(x, y)


def test_a_frame_size_that_runs_tiled_runs_one_frame_at_a_time(tmp_path):
    from impasto.runtime import Stylizer

    write_video(tmp_path / "in.avi", pattern(3, 200, 160), fps=10)
    with Stylizer.load("starry_night", backend="ort-cpu", threads=1, tile=136) as stylizer:  # the bank has a stats form
        assert stylizer.memory_plan(160, 200).mode == "tiled"
        report = stylize_video(tmp_path / "in.avi", tmp_path / "out.avi", stylizer, VideoOptions(workers=2),
                               ffmpeg=None)
    assert report.workers == 1 and report.frames == 3
    assert report.notes[-1] == "200x160 frames run tiled: one frame at a time instead of 2"


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def test_soak_memory_stays_flat_over_2000_frames(tiny_model, tmp_path):
    """2000 frames of a real video through the real model and stabiliser: RSS must not keep growing.

    Measured growth here is ~0.2 MB (the bounded latency window); keeping every frame by
    mistake would add ~8 MB at this size, so the 4 MB bound catches a per-frame leak.
    """
    from impasto.runtime import Stylizer

    rng = np.random.default_rng(0)
    tex = (rng.random((24, 32 + 2000, 3)) * 255).astype(np.uint8)
    write_video(tmp_path / "long.avi", (tex[:, i:i + 32] for i in range(2000)), fps=30)
    samples = {}

    def on_frame(frame):
        if frame.index in (300, 1999):
            samples[frame.index] = _rss_kb()

    with Stylizer.load(str(tiny_model), backend="ort-cpu") as stylizer:
        summary = StreamPipeline(VideoReader(tmp_path / "long.avi"), stylizer,
                                 StreamConfig(stabilize=0.5)).run(on_frame=on_frame)
    assert summary.frames_out == 2000 and summary.frames_dropped == 0
    growth_mb = (samples[1999] - samples[300]) / 1024
    assert growth_mb < 4, f"RSS grew {growth_mb:.1f} MB between frame 300 and frame 2000"


@pytest.mark.parametrize("n", [1, 2, 5, 48, 101])
def test_latency_percentiles_match_numpys_linear_percentiles(n):
    values = list(np.random.default_rng(n).uniform(1, 40, n))
    assert _median_and_p95(values) == pytest.approx((np.percentile(values, 50), np.percentile(values, 95)))
    assert _median_and_p95([]) == (None, None)
