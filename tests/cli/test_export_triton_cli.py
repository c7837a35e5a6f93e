"""``impasto export-triton`` on the command line: --json report, exit 2 with one line on refusals."""

from __future__ import annotations

import json
import subprocess
import sys


def test_cli_json_and_exit_codes(tmp_path):
    cmd = [sys.executable, "-m", "impasto.cli.main", "export-triton", "bank", "-o", str(tmp_path / "repo")]
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["models"][0]["name"] == "bank" and report["models"][0]["max_batch_size"] == 0
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "exists: pass --force" in again.stderr.strip().splitlines()[-1]
    bad = subprocess.run([*cmd, "--force", "--max-batch-size", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "expected 0 or more, got -1" in bad.stderr
