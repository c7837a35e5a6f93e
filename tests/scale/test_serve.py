"""``impasto serve`` for real: the CLI in a subprocess (its own local Ray cluster), loopback HTTP.

One server for the module: the bounded load test (40 requests, 4 clients, outputs checked
against the Stylizer), the per-request errors (4xx, one line, the server keeps serving),
the JSON body, and a clean stop on Ctrl-C.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from support import free_port, load_module

from impasto.runtime.io.images import decode_image, encode_image

pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]


def _load_tool():
    return load_module(ROOT / "tools" / "load_test_serve.py", "load_test_serve")


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "impasto.cli.main", "serve", "--port", str(port),
                             "--max-pixels", "100000", "--max-batch-size", "4", "--batch-wait-ms", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    # Drain stderr all along, so the server can never block writing to a full pipe (it would then not even print
    # "interrupted" when told to stop); the module's tests write only a few hundred bytes today.
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(iter(proc.stderr.readline, "")), daemon=True)
    drain.start()
    reader.join(timeout=150)
    if not first or "serving" not in first[0]:
        proc.kill()
        drain.join(timeout=10)
        pytest.fail(f"impasto serve did not start: {first} {''.join(errors)[-2000:]}")
    proc.stderr_lines, proc.stderr_drain = errors, drain
    yield proc, f"http://127.0.0.1:{port}/"
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _post(url: str, body: bytes, content_type: str = "image/png") -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def small_photos(shared) -> list[np.ndarray]:
    return _load_tool().load_images(shared / "data" / "content", 64, 4)


def test_health_route(server):
    _, url = server
    with urllib.request.urlopen(url + "healthz", timeout=30) as resp:
        info = json.loads(resp.read())
    assert info["status"] == "ok" and info["style"] == "starry_night" and info["max_batch_size"] == 4


def test_bounded_load_test_every_answer_matches_the_stylizer(server, small_photos):
    _, url = server
    report = _load_tool().run_load_test(url, small_photos, 40, 4)
    assert report["errors"] == 0, report["error_samples"]
    assert report["mismatched"] == 0 and report["max_abs_diff_vs_stylizer"] <= 1
    print(json.dumps(report))  # the figures, for -s runs (not asserted: the machine is shared)


def test_settings_in_the_query_and_in_a_json_body(server, small_photos):
    from impasto.runtime import Stylizer

    _, url = server
    image = small_photos[0]
    status, body = _post(url + "?style=la_muse:0.5,wave:0.5&strength=0.6&alpha=1,1,2,2", encode_image(image, ".png"))
    assert status == 200
    with Stylizer.load(backend="ort-cpu") as s:
        want = s(image, style="la_muse:0.5,wave:0.5", strength=0.6, style_layer_weights=[1, 1, 2, 2])
        want_json = s(image, style="candy", preserve_colors=True)
    assert np.abs(decode_image(body).astype(int) - want).max() <= 1
    doc = {"image": base64.b64encode(encode_image(image, ".png")).decode(), "mix": {"candy": 1},
           "preserve_color": True, "format": "jpg"}
    status, body = _post(url, json.dumps(doc).encode(), "application/json")
    assert status == 200 and body[:2] == b"\xff\xd8"  # a JPEG
    assert np.abs(decode_image(body).astype(int) - want_json).mean() < 3  # JPEG's loss only


@pytest.mark.parametrize(("query", "body", "status", "message"), [
    ("", b"not an image", 415, "expected an image"),
    ("", encode_image(np.zeros((400, 400, 3), np.uint8), ".png"), 413, "exceeds the limit of 100000 pixels"),
    ("", encode_image(np.zeros((40, 40, 3), np.uint8), ".png")[:60], 400, "truncated PNG"),
    ("?style=no_such_style", None, 400, "expected one of the bank's styles"),
    ("?strength=2", None, 400, "strength: expected a number in [0, 1]"),
    ("?colour=1", None, 400, "colour: unknown setting"),
    ("?style=wave&mix=candy:1", None, 400, "give one"),
])
def test_bad_requests_are_one_line_4xx_and_the_server_keeps_serving(server, small_photos, query, body, status,
                                                                     message):
    _, url = server
    got_status, got = _post(url + query, body if body is not None else encode_image(small_photos[1], ".png"))
    text = got.decode()
    assert got_status == status and message in text and text.count("\n") == 1, text
    assert _post(url, encode_image(small_photos[1], ".png"))[0] == 200


def test_ctrl_c_stops_the_server_and_its_cluster(server):
    proc, url = server
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("impasto serve did not stop on Ctrl-C")
    proc.stderr_drain.join(timeout=10)
    assert code == 130 and "interrupted" in "".join(proc.stderr_lines)
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "healthz", timeout=5)
