"""Run the sandbox: the `har-inventory sandbox` subcommand and an in-process handle for tests.

- `add_arguments(parser)` / `main(args) -> int`: the CLI. It prints, flushed,
  `base_url=http://HOST:PORT/gateway/har/api/v1` and `api_key=KEY` as its
  first two stdout lines, then serves until SIGINT/SIGTERM (exit 0). With
  `--write-input PATH` it writes a matching input CSV instead and exits.
- `start_in_thread(**options) -> SandboxHandle`: the same server on its own
  event loop in a daemon thread; `.stop()` (or leaving the `with` block) ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .app import DEFAULT_API_KEY, AppConfig, Sandbox, build_app
from .dataset import DEFAULT_IMAGES, DEFAULT_SEED, Dataset, generate_dataset
from .faults import __doc__ as FAULTS_DOC
from .faults import parse_faults, parse_latency
from .gateway import RequestLog, RequestRecord
from .input_csv import (
    DEFAULT_DUPLICATES, DEFAULT_FORBIDDEN, DEFAULT_INVALID, DEFAULT_ROWS, DEFAULT_UNKNOWN,
    write_input_csv,
)
from .routing import BASE_PATHS

DEFAULT_RATE_LIMIT = 400  # per minute per key (API-NOTES §6)


@dataclass(frozen=True)
class SandboxOptions:
    """Everything a sandbox run takes; the CLI options map one to one.

    `faults` a SPEC string (see `faults`), `latency_ms` "A:B" milliseconds,
    `rate_limit` per minute per key (0 = off), counted over a sliding window of
    `rate_limit_window` seconds (60: Harness's minute; tests shorten it, the
    limit then being `rate_limit` per window), `request_log` a JSON-lines path,
    `forbidden` extra registry_refs answered 403, `list_jitter` see `AppConfig`,
    `shutdown_timeout` seconds given to in-flight requests (a stall) at stop.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = DEFAULT_SEED
    images: int = DEFAULT_IMAGES
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_limit_window: float = 60.0
    api_key: str = DEFAULT_API_KEY
    faults: str = ""
    latency_ms: str = ""
    request_log: str | None = None
    untagged_support: bool = True
    forbidden: tuple[str, ...] = ()
    list_jitter: int = 2
    shutdown_timeout: float = 0.5

    def app_config(self) -> AppConfig:
        """Validated `AppConfig`; ValueError (readable) on a bad fault SPEC or latency."""
        return AppConfig(
            api_key=self.api_key, seed=self.seed, rate_limit=self.rate_limit,
            rate_limit_window=self.rate_limit_window,
            latency_ms=parse_latency(self.latency_ms), faults=parse_faults(self.faults),
            untagged_support=self.untagged_support, forbidden=tuple(self.forbidden),
            list_jitter=self.list_jitter,
        )


@dataclass
class SandboxHandle:
    """A running in-process sandbox. `requests` is the live list of `RequestRecord`."""

    base_url: str
    api_key: str
    dataset: Dataset
    sandbox: Sandbox
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _stop: asyncio.Event = field(repr=False)

    @property
    def requests(self) -> list[RequestRecord]:
        return self.sandbox.log.records

    @property
    def alt_base_url(self) -> str:
        """The same server under the other base path (`/har/api/v1`)."""
        return self.base_url.replace(BASE_PATHS[0], BASE_PATHS[1])

    def stop(self) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)

    def __enter__(self) -> "SandboxHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve(options: SandboxOptions, sandbox: Sandbox) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(build_app(sandbox), shutdown_timeout=options.shutdown_timeout,
                           access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    if ":" in host:
        host = f"[{host}]"
    return runner, f"http://{host}:{port}{BASE_PATHS[0]}"


def _make(options: SandboxOptions) -> Sandbox:
    config = options.app_config()
    return Sandbox(generate_dataset(options.seed, options.images), config, RequestLog(options.request_log))


def start_in_thread(**options: Any) -> SandboxHandle:
    """Start a sandbox (`SandboxOptions` fields as keywords) in a daemon thread; return its handle.

    Raises ValueError on bad options, OSError if the port cannot be bound.
    """
    opts = SandboxOptions(**options)
    sandbox = _make(opts)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        stop = asyncio.Event()
        try:
            runner, base_url = loop.run_until_complete(_serve(opts, sandbox))
        except BaseException as exc:  # report to the starting thread
            box["error"] = exc
            ready.set()
            loop.close()
            return
        box.update(stop=stop, base_url=base_url)
        ready.set()
        try:
            loop.run_until_complete(stop.wait())
            loop.run_until_complete(runner.cleanup())
        finally:
            sandbox.log.close()
            loop.close()

    thread = threading.Thread(target=run, name="har-sandbox", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        sandbox.log.close()
        raise box["error"]
    return SandboxHandle(box["base_url"], opts.api_key, sandbox.dataset, sandbox, loop, thread, box["stop"])


# ---------------------------------------------------------------- CLI

EPILOG = "fault SPEC syntax:\n" + "\n".join("  " + line for line in (FAULTS_DOC or "").splitlines()[2:])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox options to `parser` (the `har-inventory sandbox` subcommand)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    d = SandboxOptions()
    parser.add_argument("--host", default=d.host, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=d.port, help="port, 0 = any free one (default %(default)s)")
    parser.add_argument("--seed", type=int, default=d.seed, help="data set and fault seed (default %(default)s)")
    parser.add_argument("--images", type=int, default=d.images, help="number of images (default %(default)s)")
    parser.add_argument("--rate-limit", type=int, default=d.rate_limit, metavar="PER_MINUTE",
                        help="requests per minute per API key, 0 = off (default %(default)s)")
    parser.add_argument("--rate-limit-window", type=float, default=d.rate_limit_window, metavar="SECONDS",
                        help="length of the sliding window the limit counts over; the limit is then "
                             "PER_MINUTE requests per window (default %(default)s, Harness's minute)")
    parser.add_argument("--api-key", default=d.api_key, help="the accepted x-api-key (default %(default)s)")
    parser.add_argument("--faults", default="", metavar="SPEC", help="fault injection, see below")
    parser.add_argument("--latency-ms", default="", metavar="A:B",
                        help="answer each request A to B milliseconds (uniform) after it arrived; the "
                             "sandbox's own work counts inside that time (e.g. 20:200)")
    parser.add_argument("--request-log", default=None, metavar="PATH",
                        help="append every request as a JSON line to PATH")
    parser.add_argument("--forbidden", action="append", default=[], metavar="REGISTRY_REF",
                        help="answer 403 for this registry_ref (repeatable)")
    parser.add_argument("--no-untagged-support", dest="untagged_support", action="store_false",
                        help="run the TAG branch whatever version_type says (API-NOTES §3)")
    parser.add_argument("--list-jitter", type=int, default=d.list_jitter, metavar="N",
                        help="adjacent swaps in list order per request, 0 = stable (default %(default)s)")
    parser.add_argument("--write-input", default=None, metavar="PATH",
                        help="write an input CSV matching the data set to PATH and exit")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows for --write-input (default %(default)s)")
    parser.add_argument("--unknown", type=int, default=DEFAULT_UNKNOWN, help="unknown-digest rows (default %(default)s)")
    parser.add_argument("--invalid", type=int, default=DEFAULT_INVALID, help="invalid rows (default %(default)s)")
    parser.add_argument("--forbidden-rows", type=int, default=DEFAULT_FORBIDDEN,
                        help="rows in the forbidden registry (default %(default)s)")
    parser.add_argument("--duplicates", type=int, default=DEFAULT_DUPLICATES,
                        help="duplicate rows (default %(default)s)")


def options_from_args(args: argparse.Namespace) -> SandboxOptions:
    return SandboxOptions(
        host=args.host, port=args.port, seed=args.seed, images=args.images,
        rate_limit=args.rate_limit, rate_limit_window=args.rate_limit_window, api_key=args.api_key, faults=args.faults or "",
        latency_ms=args.latency_ms or "", request_log=args.request_log,
        untagged_support=args.untagged_support, forbidden=tuple(args.forbidden),
        list_jitter=args.list_jitter, shutdown_timeout=1.0,
    )


async def _run_forever(opts: SandboxOptions, sandbox: Sandbox) -> None:
    runner, base_url = await _serve(opts, sandbox)
    print(f"base_url={base_url}", flush=True)
    print(f"api_key={opts.api_key}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        sandbox.log.close()


def main(args: argparse.Namespace) -> int:
    """Run the subcommand; 0 on a clean stop, 2 on bad options (message on stderr)."""
    try:
        opts = options_from_args(args)
        if args.write_input:
            rows = write_input_csv(generate_dataset(opts.seed, opts.images), Path(args.write_input),
                                   rows=args.rows, unknown=args.unknown, invalid=args.invalid,
                                   seed=opts.seed, forbidden=args.forbidden_rows,
                                   duplicates=args.duplicates)
            print(f"wrote {len(rows)} rows to {args.write_input}", flush=True)
            return 0
        sandbox = _make(opts)
    except ValueError as exc:
        print(f"har-inventory sandbox: error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_run_forever(opts, sandbox))
    return 0


def cli(argv: list[str] | None = None) -> int:
    """`python -m har_inventory.sandbox [options]`."""
    parser = argparse.ArgumentParser(prog="python -m har_inventory.sandbox",
                                     description="HAR-compatible sandbox server (API-NOTES).")
    add_arguments(parser)
    return main(parser.parse_args(argv))
