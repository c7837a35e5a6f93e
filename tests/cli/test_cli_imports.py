"""``impasto CMD`` registers only CMD's module: help is cheap, and every command parses as with the full parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from impasto.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _commands(parser) -> dict:
    return next(a for a in parser._actions if a.dest == "command").choices


def test_stylize_help_imports_neither_onnxruntime_opencv_nor_tqdm():
    code = ("import contextlib, io, sys\n"
            "from impasto.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n"
            "        main(['stylize', '--help'])\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code == 0, exc.code\n"
            "assert '--style' in out.getvalue()\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules}\n"
            "               & {'onnxruntime', 'cv2', 'torch', 'onnx', 'ray', 'tqdm'})\n"
            "others = sorted(m for m in sys.modules if m.startswith('impasto.cli.') and m not in "
            "('impasto.cli.main', 'impasto.cli.common', 'impasto.cli.file_batch', 'impasto.cli.stylize'))\n"
            "print(heavy, others)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[] []"


def test_each_command_alone_parses_like_the_full_parser():
    full = _commands(build_parser())
    assert {"stylize", "styles", "export", "build-engine", "photoreal"} <= set(full)
    for name, sub in full.items():
        alone = _commands(build_parser([name, "--json"]))
        assert name in alone, name
        assert sorted(alone[name]._option_string_actions) == sorted(sub._option_string_actions), name


@pytest.mark.parametrize("argv", [["--version"], ["styles"], ["no-such-command"], []])
def test_without_a_command_module_every_command_is_registered(argv):
    assert set(_commands(build_parser(argv))) == set(_commands(build_parser()))
