"""The fetch stage against the sandbox over real loopback HTTP: paths, retries, aborts."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from har_inventory.fetch import FetchConfig, Fetcher, InsecureURLError, check_base_url
from har_inventory.records import ArtifactRef, Status

UNKNOWN = "sha256:" + "0" * 64


def refs_from(dataset, n=None):
    """Valid TAG refs for the first n tags of the data set, with line numbers 2, 3, …"""
    items = sorted(dataset.tags.items())[:n]
    return [ArtifactRef(i + 2, ref, image, tag, "TAG", digest)
            for i, ((ref, image, tag), digest) in enumerate(items)]


def config(sb, **kw) -> FetchConfig:
    base = dict(base_url=sb.base_url, api_key=sb.api_key, rate=500.0, concurrency=8,
                backoff_base=0.01, backoff_max=0.05, timeout=5.0)
    base.update(kw)
    return FetchConfig(**base)


def fetch(cfg: FetchConfig, refs):
    results = {}

    def on_result(result, final):
        assert result.key not in results, "a key finished twice"
        results[result.key] = (result, final)

    fetcher = Fetcher(cfg)
    stats = asyncio.run(fetcher.run(refs, on_result))
    return results, stats


def pick(dataset, *, ref_depth, slash):
    for (ref, image, tag), digest in sorted(dataset.tags.items()):
        if ref.count("/") + 1 == ref_depth and ("/" in image) == slash:
            return ref, image, tag, digest
    pytest.skip(f"data set has no image with ref depth {ref_depth}, slash={slash}")


def test_paths_sent_are_the_plain_plus_form(sandbox):
    wanted = []
    for depth in (2, 3, 4):
        for slash in (False, True):
            ref, image, tag, digest = pick(sandbox.dataset, ref_depth=depth, slash=slash)
            wanted.append(ArtifactRef(len(wanted) + 2, ref, image, tag, "TAG", digest))
            wanted.append(ArtifactRef(len(wanted) + 2, ref, image, digest, "DIGEST", digest))
    results, stats = fetch(config(sandbox), wanted)
    assert [results[r.key][0].status for r in wanted] == [Status.OK] * len(wanted)
    paths = sorted(rec.path for rec in sandbox.requests)
    expected = sorted(f"/gateway/har/api/v1/registry/{r.registry_ref}/+/artifact/{r.artifact}/+/version/"
                      f"{r.version}/docker/details" for r in wanted)
    assert paths == expected
    assert all("%" not in p for p in paths)
    digest_row = results[wanted[1].key][0]
    assert digest_row.data["version"] == wanted[1].digest and "pullCommand" not in digest_row.data
    assert stats.requests == len(wanted) and stats.retries == 0


def test_503_then_200_takes_two_attempts_and_not_found_one(make_sandbox):
    probe = make_sandbox()
    refs = refs_from(probe.dataset, 30)
    flaky = refs[3]
    sb = make_sandbox(faults=f"script:{flaky.digest}=503,200")
    missing = ArtifactRef(99, refs[0].registry_ref, refs[0].artifact, "no-such-tag", "TAG", UNKNOWN)
    results, stats = fetch(config(sb), refs + [missing])
    assert results[flaky.key][0].status == Status.OK and results[flaky.key][0].attempts == 2
    nf = results[missing.key][0]
    assert (nf.status, nf.attempts, nf.http_status) == (Status.NOT_FOUND, 1, 500)
    others = [results[r.key][0] for r in refs if r.digest != flaky.digest]
    assert {(r.status, r.attempts) for r in others} == {(Status.OK, 1)}
    assert stats.retries == sum(results[k][0].attempts - 1 for k in results)


def test_always_503_fails_after_max_attempts_with_a_readable_error(make_sandbox):
    probe = make_sandbox()
    refs = refs_from(probe.dataset, 10)
    bad = refs[2]
    sb = make_sandbox(faults=f"always:{bad.digest}=503")
    results, _ = fetch(config(sb, max_attempts=3), refs)
    r = results[bad.key][0]
    assert (r.status, r.attempts, r.http_status) == (Status.FAILED, 3, 503)
    assert r.error.startswith("HTTP 503 after 3 attempts: ")
    assert "RetryError" not in r.error
    same_digest = sum(1 for r in refs if r.digest == bad.digest)  # several tags may share it
    assert sum(1 for res, _ in results.values() if res.status == Status.OK) == len(refs) - same_digest
    assert {res.status for res, _ in results.values() if res.key.digest == bad.digest} == {Status.FAILED}


def test_truncated_200_is_retried_then_failed_with_the_reason(make_sandbox):
    probe = make_sandbox()
    refs = refs_from(probe.dataset, 3)
    sb = make_sandbox(faults=f"always:{refs[0].digest}=truncated")
    results, _ = fetch(config(sb, max_attempts=2), refs[:1])
    r = results[refs[0].key][0]
    assert r.status == Status.FAILED and r.attempts == 2
    assert "200 with invalid JSON body" in r.error


def test_retry_after_is_waited_for_and_logged(make_sandbox, caplog):
    probe = make_sandbox()
    refs = refs_from(probe.dataset, 1)
    sb = make_sandbox(faults=f"script:{refs[0].digest}=429-seconds,200")
    with caplog.at_level(logging.INFO, logger="har_inventory.fetch"):
        results, _ = fetch(config(sb), refs)
    assert results[refs[0].key][0].attempts == 2
    waits = [r for r in caplog.records if getattr(r, "event", None) == "retry_after"]
    assert waits and waits[0].wait_s == pytest.approx(1.0)


def test_refused_key_aborts_within_a_few_requests(make_sandbox):
    sb = make_sandbox()
    refs = refs_from(sb.dataset, 200)
    results, stats = fetch(config(sb, api_key="pat.wrong.key", concurrency=4), refs)
    assert stats.aborted and "401" in stats.aborted
    assert stats.requests <= 4 + 1
    unauthorized = [r for r, _ in results.values() if r.status == Status.UNAUTHORIZED]
    assert unauthorized and all(not final for r, final in results.values())
    assert len(results) < len(refs)


def test_server_down_aborts_after_a_bounded_time():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: connection refused
    refs = [ArtifactRef(i + 2, "acc/reg", "web", f"v{i}", "TAG", UNKNOWN) for i in range(500)]
    cfg = FetchConfig(base_url=f"http://127.0.0.1:{port}/gateway/har/api/v1", api_key="k", rate=200.0,
                      backoff_base=0.01, backoff_max=0.05, down_after=0.5, max_attempts=3)
    results, stats = fetch(cfg, refs)
    assert stats.aborted and stats.aborted.startswith("server unreachable")
    assert len(results) < len(refs)
    assert all(r.status == Status.FAILED and r.http_status is None for r, _ in results.values())


@pytest.mark.parametrize("url, ok", [
    ("https://app.harness.io/gateway/har/api/v1/", True),
    ("http://127.0.0.1:8080/x", True),
    ("http://localhost/x", True),
    ("http://[::1]:9/x", True),
    ("http://app.harness.io/x", False),
    ("ftp://x/y", False),
])
def test_base_url_check_refuses_clear_text_key_to_remote_hosts(url, ok):
    if ok:
        assert not check_base_url(url).endswith("/")
    else:
        with pytest.raises(ValueError):
            check_base_url(url)
    assert check_base_url("http://10.1.2.3/x", allow_insecure_http=True) == "http://10.1.2.3/x"
    with pytest.raises(InsecureURLError):
        check_base_url("http://10.1.2.3/x")


def test_retries_are_numbered_and_logged_from_the_first_attempt(make_sandbox, caplog):
    probe = make_sandbox()
    refs = refs_from(probe.dataset, 2)
    sb = make_sandbox(faults=f"script:{refs[0].digest}=503,503,200")
    with caplog.at_level(logging.INFO, logger="har_inventory.fetch"):
        results, stats = fetch(config(sb), refs[:1])
    assert results[refs[0].key][0].attempts == 3 and stats.retries == 2
    retries = [r for r in caplog.records if getattr(r, "event", None) == "retry"]
    assert [r.attempt for r in retries] == [1, 2]
    assert all(r.reason.startswith("HTTP 503") for r in retries)


async def _forwarding_proxy(seen: list[str]) -> asyncio.AbstractServer:
    """A minimal HTTP forward proxy on loopback: records each request target, relays to the origin."""
    import yarl

    async def handle(reader, writer):
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, *headers = head.split("\r\n")
            method, target, version = line.split(" ")
            seen.append(target)
            url = yarl.URL(target, encoded=True)
            up_reader, up_writer = await asyncio.open_connection(url.host, url.port)
            kept = [h for h in headers if h and not h.lower().startswith(("connection:", "proxy-"))]
            up_writer.write(f"{method} {url.raw_path_qs} {version}\r\n".encode("latin-1")
                            + "\r\n".join(kept + ["Connection: close", "", ""]).encode("latin-1"))
            writer.write(await up_reader.read())  # the origin closes after its answer
            await writer.drain()
            up_writer.close()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_requests_go_through_the_proxy_of_the_environment_unless_no_proxy_exempts_the_host(
        sandbox, monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    refs = refs_from(sandbox.dataset, 5)
    seen: list[str] = []

    async def go():
        proxy = await _forwarding_proxy(seen)
        async with proxy:
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}")
            results = {}
            await Fetcher(config(sandbox)).run(refs, lambda r, final: results.__setitem__(r.key, r))
            through_proxy = list(seen)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
            await Fetcher(config(sandbox)).run(refs, lambda r, final: results.__setitem__(r.key, r))
            return results, through_proxy

    results, through_proxy = asyncio.run(go())
    assert {r.status for r in results.values()} == {Status.OK}
    # Through the proxy: one absolute-form request per row, to the registry's URL.
    assert len(through_proxy) == 5
    assert all(t.startswith(sandbox.base_url + "/registry/") for t in through_proxy)
    # With NO_PROXY naming the host, the second run went straight to the sandbox.
    assert seen == through_proxy and len(sandbox.requests) == 10
