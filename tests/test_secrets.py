"""The API key stays secret: never written anywhere, never on the command line, never in clear text.

The key travels in one header of each request and nowhere else. These tests
run the job with a recognizable key through faults, a refused key, JSON logs,
a failing run and a kill, then search every byte the job wrote.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobrun import all_bytes, job_env, run_job, send, start_job, summary_of, wait_until, write_input  # noqa: E402

KEY = "pat.CANARY-4f1d2b9e.s3cr3t-Value-0123456789abcdef"
FAST = ("--rate", "500", "--concurrency", "8", "--no-progress")


def _hits(paths, texts=()) -> list[str]:
    found = [str(f) for f, data in all_bytes(paths) if KEY.encode() in data or KEY[4:].encode() in data]
    found += [f"text #{i}" for i, t in enumerate(texts) if KEY in t or KEY[4:] in t]
    return found


def test_the_key_is_in_no_byte_the_job_writes(make_sandbox, tmp_path):
    sb = make_sandbox(api_key=KEY, faults="503=0.05,502=0.03,429=0.02,reset=0.02,truncated=0.02,html200=0.02")
    src = tmp_path / "in.csv"
    rows = write_input(sb.dataset, src, 120, unknown=3, invalid=2, forbidden=2)
    texts = []

    # 1. Faults, every format, JSON logs to a file, debug logging.
    log = tmp_path / "job.log"
    res = run_job(src, sb.base_url, KEY, tmp_path / "a", *FAST, "--format", "xlsx,parquet,csv",
                  "--log-format", "json", "--log-file", str(log), "-v")
    assert res.returncode == 1 and log.stat().st_size > 0
    texts += [res.stdout, res.stderr]

    # 2. A refused key (the sandbox wants another one): the job's key in every request, 401s back.
    other = make_sandbox(api_key="pat.some-other-key")
    res = run_job(src, other.base_url, KEY, tmp_path / "b", *FAST, "-v")
    assert res.returncode == 3 and "API key refused" in res.stderr
    texts += [res.stdout, res.stderr]

    # 3. A failing run: every row fails; text logs to stderr.
    failing = make_sandbox(api_key=KEY, faults="503=1")
    res = run_job(src, failing.base_url, KEY, tmp_path / "c", *FAST, "--max-attempts", "2", "-v")
    assert res.returncode == 1 and summary_of(res.stderr)["failed"] == str(120 - 2)
    texts += [res.stdout, res.stderr]

    # 4. A server that goes away, and 5. a kill that leaves the journal's WAL behind.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run_job(src, f"http://127.0.0.1:{port}/gateway/har/api/v1", KEY, tmp_path / "d", *FAST,
                  "--down-after", "0.5", "-v")
    assert res.returncode == 3
    texts += [res.stdout, res.stderr]
    slow = make_sandbox(api_key=KEY, images=60)
    proc = start_job(src, slow.base_url, KEY, tmp_path / "e", "--rate", "40", "--no-progress", "-v")
    wait_until(lambda: len(slow.requests) >= 30, 30, "30 requests")
    send(proc, signal.SIGKILL)
    proc.wait(timeout=10)
    assert any(p.name.endswith("-wal") for p in (tmp_path / "e").iterdir())

    assert all(r.api_key_present for r in sb.requests)  # the key was sent, as a header
    assert len(rows) == 120
    assert _hits([tmp_path], texts) == []


def test_a_key_file_readable_by_others_draws_a_warning(sandbox, tmp_path):
    src = tmp_path / "in.csv"
    write_input(sandbox.dataset, src, 5)
    key_file = tmp_path / "key"
    key_file.write_text(sandbox.api_key + "\n")
    env = job_env("")
    del env["HARNESS_API_KEY"]
    for mode, warned in ((0o644, True), (0o600, False)):
        os.chmod(key_file, mode)
        res = run_job(src, sandbox.base_url, "", tmp_path / f"out{mode:o}", *FAST, "--api-key-file",
                      str(key_file), env=env)
        assert res.returncode == 0, res.stderr[-2000:]
        assert ("readable by other users" in res.stderr) is warned
        assert sandbox.api_key not in res.stderr + res.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_there_is_no_option_that_takes_the_key_itself(sandbox, tmp_path):
    src = tmp_path / "in.csv"
    write_input(sandbox.dataset, src, 5)
    help_text = run_job(src, sandbox.base_url, "", tmp_path / "h", "--help").stdout
    assert "--api-key-file" in help_text
    options = set(re.findall(r"--[a-z][\w-]*", help_text))
    assert {o for o in options if "key" in o or "token" in o or "secret" in o} == {"--api-key-file"}
    for flag in ("--api-key", "--key", "--token"):
        res = run_job(src, sandbox.base_url, "", tmp_path / "x", flag, KEY)
        assert res.returncode == 2
        assert len(sandbox.requests) == 0


def test_a_key_given_on_the_command_line_is_not_repeated_in_the_error(sandbox, tmp_path):
    src = tmp_path / "in.csv"
    write_input(sandbox.dataset, src, 5)
    res = run_job(src, sandbox.base_url, "", tmp_path / "x", "--api-key", KEY)
    assert res.returncode == 2
    assert KEY not in res.stderr + res.stdout


def test_plain_http_to_a_host_that_is_not_loopback_is_refused_before_sending(sandbox, tmp_path):
    src = tmp_path / "in.csv"
    write_input(sandbox.dataset, src, 5)
    # 0.0.0.0 is not a loopback address (the check refuses it) but reaches this machine's sandbox,
    # so the test never sends anything off the machine either way.
    port = sandbox.base_url.split(":")[2].split("/")[0]
    url = f"http://0.0.0.0:{port}/gateway/har/api/v1"
    res = run_job(src, url, sandbox.api_key, tmp_path / "a", *FAST)
    assert res.returncode == 2 and "--allow-insecure-http" in res.stderr
    assert len(sandbox.requests) == 0 and not (tmp_path / "a").exists()
    res = run_job(src, url, sandbox.api_key, tmp_path / "b", *FAST, "--allow-insecure-http")
    assert res.returncode == 0 and len(sandbox.requests) == 5


def test_proxy_settings_come_from_the_environment(sandbox, tmp_path):
    src = tmp_path / "in.csv"
    write_input(sandbox.dataset, src, 5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    # A proxy that is not there: the job tries it (trust_env) and cannot reach the sandbox.
    res = run_job(src, sandbox.base_url, sandbox.api_key, tmp_path / "a", *FAST, "--down-after", "0.5",
                  env=job_env(sandbox.api_key, HTTP_PROXY=closed))
    assert res.returncode == 3 and len(sandbox.requests) == 0
    # NO_PROXY exempts the sandbox's host: straight through.
    res = run_job(src, sandbox.base_url, sandbox.api_key, tmp_path / "b", *FAST,
                  env=job_env(sandbox.api_key, HTTP_PROXY=closed, NO_PROXY="127.0.0.1,localhost"))
    assert res.returncode == 0 and len(sandbox.requests) == 5
