"""Injected faults, the rate limit and the request log, seen by a plain aiohttp client."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime

import aiohttp
import pytest

from har_inventory.sandbox import parse_faults
from har_inventory.sandbox.faults import FaultDecider, parse_latency


def a_tag(sb):
    (ref, image, tag), digest = sorted(sb.dataset.readable_tags.items())[0]
    return (f"{sb.base_url}/registry/{ref}/+/artifact/{image}/+/version/{tag}/docker/details"
            f"?digest={digest}&version_type=TAG"), tag, digest


# ---------------------------------------------------------------- SPEC parser

def test_spec_parses_rates_params_and_scripts():
    spec = parse_faults("503=0.03,502=0.02,429-date=0.01,burst=3,stall-seconds=2.5;"
                        "script:sha256:ab=503,429-seconds,200,reset=0.01;always:1.4.2=truncated")
    assert dict(spec.rates) == {"503": 0.03, "502": 0.02, "429-date": 0.01, "reset": 0.01}
    assert spec.burst == 3 and spec.stall_seconds == 2.5
    assert dict(spec.scripts) == {"sha256:ab": ("503", "429-seconds", "ok")}
    assert dict(spec.always) == {"1.4.2": "truncated"}
    assert parse_faults("").empty and parse_faults(None).empty


@pytest.mark.parametrize("spec, words", [
    ("503=2", "in [0, 1]"),
    ("503=0.7,502=0.5", "add up to 1.2"),
    ("418=0.1", "unknown fault '418'"),
    ("503=lots", "must be a number"),
    ("script:=503", "has no key"),
    ("script:sha256:ab=teapot", "unknown fault 'teapot'"),
    ("503", "has no '='"),
    ("burst=-1", "must be >= 0"),
])
def test_bad_specs_raise_readable_value_errors(spec, words):
    with pytest.raises(ValueError, match=None) as info:
        parse_faults(spec)
    assert words in str(info.value)


def test_rate_faults_replay_identically_and_every_key_recovers():
    spec = parse_faults("503=0.3,reset=0.2")
    runs = []
    for _ in range(2):
        decider = FaultDecider(spec, seed=11)
        runs.append([decider.decide(f"key{k}") for k in range(200) for _ in range(3)])
    assert runs[0] == runs[1]
    faults = [f for f in runs[0] if f]
    assert 0.35 < len(faults) / len(runs[0]) < 0.65
    decider = FaultDecider(spec, seed=11)
    for k in range(200):  # independent draws per attempt: each key gets through eventually
        assert any(decider.decide(f"key{k}") is None for _ in range(40))


def test_burst_repeats_a_drawn_fault_for_the_next_requests():
    decider = FaultDecider(parse_faults("502=0.05,burst=4"), seed=1)
    seq = [decider.decide(f"k{i}") for i in range(400)]
    first = seq.index("502")
    assert seq[first:first + 5] == ["502"] * 5


# ---------------------------------------------------------------- over HTTP

@pytest.mark.parametrize("fault, status, ctype", [
    ("503", 503, "application/json"),
    ("500", 500, "application/json"),
    ("502", 502, "text/html"),
    ("504", 504, "text/html"),
    ("429", 429, "text/html"),
    ("html200", 200, "text/html"),
])
def test_each_status_fault_is_seen_once_then_the_normal_answer(make_sandbox, raw_get, fault, status, ctype):
    probe = make_sandbox()
    url, _, digest = a_tag(probe)
    sb = make_sandbox(faults=f"script:{digest}={fault},200")
    url = url.replace(probe.base_url, sb.base_url)
    first = raw_get(url, sb.api_key)
    assert (first.status, first.headers["Content-Type"].split(";")[0]) == (status, ctype)
    assert "Retry-After" not in first.headers
    if ctype == "application/json":
        assert first.json()["code"] == str(status) and "not found" not in first.json()["message"]
    second = raw_get(url, sb.api_key)
    assert second.status == 200 and second.json()["status"] == "SUCCESS"
    assert [r.fault for r in sb.requests] == [fault, None]


def test_429_with_retry_after_seconds_and_http_date(make_sandbox, raw_get):
    probe = make_sandbox()
    url, _, digest = a_tag(probe)
    sb = make_sandbox(faults=f"script:{digest}=429-seconds,429-date,retry-after=3")
    url = url.replace(probe.base_url, sb.base_url)
    seconds = raw_get(url, sb.api_key)
    assert seconds.status == 429 and seconds.headers["Retry-After"] == "3"
    dated = raw_get(url, sb.api_key)
    assert dated.status == 429
    when = parsedate_to_datetime(dated.headers["Retry-After"])
    assert when.tzinfo is not None and dated.headers["Retry-After"].endswith("GMT")


def test_truncated_200_is_cut_json_with_a_matching_length(make_sandbox, raw_get):
    probe = make_sandbox()
    url, _, digest = a_tag(probe)
    sb = make_sandbox(faults=f"always:{digest}=truncated")
    resp = raw_get(url.replace(probe.base_url, sb.base_url), sb.api_key)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/json")
    assert int(resp.headers["Content-Length"]) == len(resp.body)
    assert resp.text.startswith('{"status": "SUCCESS"')
    with pytest.raises(json.JSONDecodeError):
        resp.json()


def test_reset_closes_the_connection_without_an_answer(make_sandbox, raw_get):
    probe = make_sandbox()
    url, tag, _ = a_tag(probe)
    sb = make_sandbox(faults=f"script:{tag}=reset,reset,reset")
    url = url.replace(probe.base_url, sb.base_url)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        raw_get(url, sb.api_key)
    # aiohttp silently resends an idempotent request once after a disconnect
    assert [(r.status, r.fault) for r in sb.requests] == [(None, "reset")] * 2
    assert raw_get(url, sb.api_key).status == 200  # third reset, resent: the script is spent
    assert [(r.status, r.fault) for r in sb.requests][2:] == [(None, "reset"), (200, None)]


def test_stall_outlasts_the_client_timeout(make_sandbox, raw_get):
    probe = make_sandbox()
    url, _, digest = a_tag(probe)
    sb = make_sandbox(faults=f"script:{digest}=stall,stall-seconds=30")
    url = url.replace(probe.base_url, sb.base_url)
    with pytest.raises(TimeoutError):
        raw_get(url, sb.api_key, timeout=0.3)
    assert raw_get(url, sb.api_key).status == 200
    assert [(r.status, r.fault) for r in sb.requests] == [(200, "stall"), (200, None)]


def test_latency_option_keeps_answers_and_bad_values_are_refused(make_sandbox, raw_get):
    assert parse_latency("20:200") == (20, 200) and parse_latency("5") == (5, 5) and parse_latency("") is None
    for bad in ("fast", "200:20", "-1"):
        with pytest.raises(ValueError):
            parse_latency(bad)
    sb = make_sandbox(latency_ms="150:150")
    url, _, _ = a_tag(sb)
    for api_key, status in ((sb.api_key, 200), ("wrong", 401)):
        started = time.monotonic()
        assert raw_get(url, api_key).status == status
        # counted from arrival, the sandbox's own work inside it: never answered sooner
        assert time.monotonic() - started >= 0.15


def test_always_fault_never_lets_the_key_through(make_sandbox, raw_get):
    probe = make_sandbox()
    url, _, digest = a_tag(probe)
    sb = make_sandbox(faults=f"always:{digest}=503")
    url = url.replace(probe.base_url, sb.base_url)
    assert [raw_get(url, sb.api_key).status for _ in range(4)] == [503] * 4


def test_rate_limit_answers_429_html_without_retry_after(make_sandbox, raw_get):
    sb = make_sandbox(rate_limit=3)
    url, _, _ = a_tag(sb)
    answers = [raw_get(url, sb.api_key) for _ in range(5)]
    assert [a.status for a in answers] == [200, 200, 200, 429, 429]
    over = answers[-1]
    assert over.headers["Content-Type"].startswith("text/html") and "<html>" in over.text
    assert "Retry-After" not in over.headers
    assert [r.fault for r in sb.requests][-2:] == ["rate_limit", "rate_limit"]


def test_request_log_file_gets_one_json_line_per_request(make_sandbox, raw_get, tmp_path):
    log = tmp_path / "requests.jsonl"
    sb = make_sandbox(request_log=str(log))
    url, _, _ = a_tag(sb)
    raw_get(url, sb.api_key)
    raw_get(url, "wrong")
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # flushed per line
    assert [(e["seq"], e["status"], e["api_key_present"]) for e in lines] == [(1, 200, True), (2, 401, True)]
    assert lines[0]["path"].endswith("/docker/details") and lines[0]["query"].startswith("digest=")
