"""Class 14: with the image on stdout, ``--json`` goes to stderr; stdout carries the image and nothing else.

On main at 973f7ac ``impasto stylize - --json`` appended the JSON report after the PNG
bytes (``sheet``, ``photoreal`` and ``gatys`` did not write to stdout then). At 510d13f
every command that writes an image to stdout dropped ``--json`` without a word. Now the
report is printed on stderr, whole and parseable.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from impasto.cli.main import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"


def _only_a_png(data: bytes) -> np.ndarray:
    assert data.startswith(PNG_SIGNATURE) and data.endswith(PNG_END), data[-40:]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _report(stderr: str) -> dict:
    start = stderr.index("{")
    return json.loads(stderr[start:stderr.rindex("}") + 1])


@pytest.mark.parametrize("command", ["stylize", "sheet", "photoreal"])
def test_json_goes_to_stderr_when_the_image_goes_to_stdout(tmp_path, capfdbinary, write_photo, command):
    photo = write_photo(tmp_path / "photo.png", 96, 128)
    style = write_photo(tmp_path / "style.png", 96, 128, seed=1)
    argv = {"stylize": ["stylize", str(photo), "-o", "-", "--json", "--style", "la_muse"],
            "sheet": ["sheet", str(photo), "-o", "-", "--json", "--tile", "64"],
            "photoreal": ["photoreal", str(photo), "--style-image", str(style), "-o", "-", "--json"]}[command]
    assert main(argv) == 0
    captured = capfdbinary.readouterr()
    image = _only_a_png(captured.out)
    report = _report(captured.err.decode())
    if command == "stylize":
        assert report["succeeded"] == 1 and report["images"][0]["output"] == "-" and image.shape == (96, 128, 3)
    else:
        assert report["output"] == "-" and report["width"] == image.shape[1]


def test_stdin_to_stdout_with_json_in_a_pipe(tmp_path, impasto_cli, write_photo):
    photo = write_photo(tmp_path / "photo.png", 48, 64)
    r = impasto_cli("stylize", "-", "--json", cwd=tmp_path, stdin=photo.read_bytes())
    assert r.returncode == 0, r.stderr
    assert _only_a_png(r.stdout).shape == (48, 64, 3)
    assert _report(r.stderr.decode())["images"] == [{**_report(r.stderr.decode())["images"][0], "input": "-",
                                                     "output": "-"}]
