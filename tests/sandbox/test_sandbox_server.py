"""The sandbox as a process: banner lines, clean stop on signals, --write-input, bad options."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

import pytest

from har_inventory.sandbox import add_arguments, main
from har_inventory.sandbox.input_csv import HEADER


def parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser, parser.parse_args(argv)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_process_prints_two_banner_lines_serves_and_stops_cleanly(raw_get, sig):
    proc = subprocess.Popen([sys.executable, "-m", "har_inventory.sandbox", "--port", "0",
                             "--api-key", "pat.sandbox.test.key", "--rate-limit", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first, second = proc.stdout.readline().strip(), proc.stdout.readline().strip()
        assert first.startswith("base_url=http://127.0.0.1:") and first.endswith("/gateway/har/api/v1")
        assert second == "api_key=pat.sandbox.test.key"
        base_url = first.split("=", 1)[1]
        resp = raw_get(base_url + "/spaces/acme/+/registries?package_type=DOCKER", "pat.sandbox.test.key")
        assert resp.status == 200
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_write_input_writes_the_csv_and_exits(tmp_path, capsys):
    target = tmp_path / "rows.csv"
    _, args = parse(["--write-input", str(target), "--rows", "20", "--unknown", "2", "--invalid", "2",
                     "--images", "8"])
    assert main(args) == 0
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(HEADER) and len(lines) == 21
    assert "wrote 20 rows" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--faults", "503=0.9,502=0.9"], "add up to 1.8"),
    (["--latency-ms", "200:20"], "MIN <= MAX"),
    (["--images", "0"], "images must be >= 1"),
])
def test_bad_options_exit_2_with_a_readable_message(capsys, argv, words):
    _, args = parse(argv)
    assert main(args) == 2
    assert words in capsys.readouterr().err


def test_help_documents_the_fault_spec():
    parser, _ = parse([])
    text = parser.format_help()
    for word in ("429-seconds=R", "script:KEY=F1,F2", "always:KEY=F", "burst=N", "stall-seconds=S"):
        assert word in text
