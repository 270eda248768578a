"""Logs a cron owner can use: JSON lines or readable text, the key redacted, no progress bar off a terminal."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobrun import job_cmd, job_env, run_job, write_input  # noqa: E402

from har_inventory import logs  # noqa: E402

SECRET = "pat.acct.0123456789abcdef.LOGSECRET"
FAST = ("--rate", "500", "--concurrency", "8", "--no-progress", "--format", "parquet")
TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S")


@pytest.fixture
def capture():
    """(logger, stream) with `logs.setup` on a StringIO; the root logger is restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_redaction_covers_message_arguments_extra_fields_and_tracebacks(capture):
    logs.setup(fmt="json", secrets=[SECRET], stream=capture)
    log = logging.getLogger("har_inventory.test")
    log.info("header x-api-key: %s", SECRET, extra={"event": "t", "options": {"key": [SECRET, 1]}})
    try:
        raise RuntimeError(f"boom with {SECRET}")
    except RuntimeError:
        log.exception("failed", extra={"event": "t2"})
    text = capture.getvalue()
    assert SECRET not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["message"] == "header x-api-key: [redacted]"
    assert first["options"] == {"key": ["[redacted]", 1]}
    assert "boom with [redacted]" in second["exception"] and second["level"] == "error"


def test_text_format_is_one_readable_line_per_event(capture):
    logs.setup(fmt="text", secrets=[SECRET], stream=capture)
    logging.getLogger("har_inventory.test").warning("pace %.2f -> %.2f requests/s: %s", 6.6, 3.3, "429")
    assert TEXT_LINE.match(capture.getvalue())
    assert capture.getvalue().rstrip("\n").endswith("WARNING pace 6.60 -> 3.30 requests/s: 429")


def test_json_log_file_has_one_object_per_event_from_start_to_end(make_sandbox, tmp_path):
    sb = make_sandbox(images=120, faults="503=0.03,429=0.03,reset=0.01")
    src = tmp_path / "in.csv"
    write_input(sb.dataset, src, 300, unknown=2)
    log = tmp_path / "job.jsonl"
    res = run_job(src, sb.base_url, sb.api_key, tmp_path / "out", *FAST,
                  "--log-format", "json", "--log-file", str(log))
    assert res.returncode == 1, res.stderr[-2000:]
    events = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    kinds = {e["event"] for e in events}
    assert {"run_start", "retry", "pace", "run_end"} <= kinds
    start = events[0]
    assert start["event"] == "run_start" and start["options"]["rate"] == 500.0
    assert "api_key" not in start["options"] and sb.api_key not in log.read_text()
    retry = next(e for e in events if e["event"] == "retry")
    assert retry["reason"] and retry["wait_s"] >= 0 and retry["item"].startswith("line ")
    pace = next(e for e in events if e["event"] == "pace")
    assert pace["new_rate"] < pace["old_rate"] and "429" in pace["reason"]
    end = events[-1]
    assert end["event"] == "run_end" and end["exit_code"] == 1
    assert end["counts"]["not_found"] == 2 and end["counts"]["ok"] == 298
    assert end["summary"].startswith("rows=300 ok=298 not_found=2")
    assert all(e["ts"].endswith("+00:00") for e in events)
    # With a log file, stderr has the summary line only; stdout the report paths.
    assert res.stderr.splitlines() == [end["summary"]]
    assert res.stdout.strip().endswith(".parquet")


def test_json_logs_on_stderr_include_the_abort(make_sandbox, tmp_path):
    sb = make_sandbox(api_key="pat.expected")
    src = tmp_path / "in.csv"
    write_input(sb.dataset, src, 40)
    res = run_job(src, sb.base_url, "pat.refused", tmp_path / "out", *FAST, "--log-format", "json")
    assert res.returncode == 3
    lines = res.stderr.splitlines()
    # The CLI's closing summary line is plain text (cli.py); everything before it is JSON.
    assert lines[-1].startswith("rows=40 ")
    events = [json.loads(line) for line in lines[:-1]]
    abort = next(e for e in events if e["event"] == "abort")
    assert abort["level"] == "error" and "API key refused (HTTP 401" in abort["reason"]
    assert events[-1]["event"] == "run_end" and events[-1]["complete"] is False


def test_text_logs_off_a_terminal_have_no_progress_bar(make_sandbox, tmp_path):
    sb = make_sandbox(faults="503=0.05")
    src = tmp_path / "in.csv"
    write_input(sb.dataset, src, 60)
    res = run_job(src, sb.base_url, sb.api_key, tmp_path / "out", "--rate", "500", "--format", "parquet")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "\r" not in res.stderr and "█" not in res.stderr and "req/s" not in res.stderr
    lines = res.stderr.splitlines()
    assert lines[-1].startswith("rows=60 ok=60 ")
    assert all(TEXT_LINE.match(line) for line in lines[:-1]), lines
    assert any("retrying in" in line for line in lines)


def test_a_terminal_gets_a_progress_bar(sandbox, tmp_path):
    src = tmp_path / "in.csv"
    write_input(sandbox.dataset, src, 30)
    out = tmp_path / "out"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.Popen(job_cmd(src, sandbox.base_url, out, "--rate", "100", "--format", "parquet"),
                            stdout=subprocess.PIPE, stderr=slave, env=job_env(sandbox.api_key), cwd=tmp_path)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = seen.decode("utf-8", "replace")
    assert "\r" in text and "30/30" in text and "req" in text
