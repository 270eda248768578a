"""Command line: argument parsing, exit codes and the summary line; the stages live elsewhere.

    har-inventory run INPUT [options]        fetch details, write reports
    har-inventory validate INPUT [options]   read and validate only (same as run --dry-run)
    har-inventory discover [options]         list a registry's or space's images, tags and digests as a CSV
    har-inventory sandbox [options]          the bundled HAR-compatible test server

Exit codes: 0 every row ok; 1 finished, some rows not ok; 2 usage or input
error, or another run using the output folder, no request sent; 3 aborted or
interrupted, partial results kept.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sqlite3
import stat
import sys
from contextlib import ExitStack
from pathlib import Path

from har_inventory import __version__, har, logs
from har_inventory.fetch import FetchConfig, check_base_url
from har_inventory.inputs import InputError, read_input
from har_inventory.outdir import LOCK_NAME, OutputDirBusy, claim
from har_inventory.reports import FORMATS
from har_inventory.runner import EXIT_ABORTED, EXIT_USAGE, RunOptions, run_job
from har_inventory.validate import dry_run_report

log = logging.getLogger("har_inventory")

ENV_KEY = "HARNESS_API_KEY"
ENV_BASE_URL = "HAR_BASE_URL"


_EXIT_CODES = ("Exit codes: 0 every row ok; 1 some rows not ok (all reported); "
               "2 usage or input error, or another run using --output-dir, nothing sent; "
               "3 aborted or interrupted, partial results kept.")


class UsageError(Exception):
    """A bad option or file: one readable line, exit 2, nothing sent."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + traceback-free exit
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            # Name the options only: a value typed after an unknown option may be a secret.
            words = message[len(prefix):].split()
            opts = [w.split("=", 1)[0] for w in words if w.startswith("-")]
            message = (f"unrecognized option(s): {' '.join(opts)}" if opts
                       else f"{len(words)} unexpected argument(s)")
            if "--api-key" in opts:
                message += f" (the key is read from {ENV_KEY} or --api-key-file, never from the command line)"
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _formats(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(bad) or text!r}; choose from {', '.join(FORMATS)}")
    return names


def _add_input_args(p: argparse.ArgumentParser, *, optional: bool = False) -> None:
    p.add_argument("input", type=Path, nargs="?" if optional else None,
                   help="CSV (any Excel dialect) or .xlsx list of artifact, version, digest rows")
    p.add_argument("--registry-ref", help="registry for rows without a registry_ref column: "
                   "account/registry, account/org/registry or account/org/project/registry (a trailing /+ is fine)")
    p.add_argument("--delimiter", help="force the CSV delimiter: , ; tab |  (default: detected)")
    p.add_argument("--sheet", help="sheet of an .xlsx input (default: the first)")
    p.add_argument("--rate", type=_positive_float, default=6.6,
                   help="at most this many requests/s, evenly paced, no burst (default 6.6 = Harness's 400/min per key)")


def _add_fetch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", default=None,
                   help=f"HAR API base (default: ${ENV_BASE_URL}, else {har.DEFAULT_BASE_URL})")
    p.add_argument("--api-key-file", type=Path, help=f"file holding the API key (default: ${ENV_KEY})")
    p.add_argument("--concurrency", type=_positive_int, default=8, help="requests in flight at most (default 8)")
    p.add_argument("--timeout", type=_positive_float, default=30.0, help="seconds per request (default 30)")
    p.add_argument("--max-attempts", type=_positive_int, default=5, help="attempts per request, first included (default 5)")
    p.add_argument("--max-retry-wait", type=_positive_float, default=120.0,
                   help="cap in seconds on a server's Retry-After (default 120)")
    p.add_argument("--down-after", type=_positive_float, default=60.0,
                   help="abort (exit 3) when no HTTP response came for this many seconds (default 60)")
    p.add_argument("--allow-insecure-http", action="store_true",
                   help="allow sending the API key over plain http to a host that is not loopback")
    p.add_argument("--log-format", choices=("text", "json"), default="text", help="log format (default text)")
    p.add_argument("--log-file", type=Path, help="append logs to this file instead of stderr")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="debug logging: also every HTTP answer (path, status, size)")


def _add_discover_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    if required:
        scope = p.add_mutually_exclusive_group(required=True)
        scope.add_argument("--registry-ref", help="discover one registry (account/[org/[project/]]registry, /+ optional)")
    else:
        scope = p
    scope.add_argument("--space", help="discover every Docker registry of a space: account, account/org or "
                       "account/org/project, with every org and project below it (see --space-scope)")
    p.add_argument("--image-filter", metavar="GLOB", help="only images whose name matches (fnmatch, case-sensitive)")
    p.add_argument("--tag-filter", metavar="GLOB", help="only tags that match (fnmatch, case-sensitive)")
    p.add_argument("--include-untagged", action="store_true",
                   help="also list digests no tag points to, as DIGEST rows")
    p.add_argument("--space-scope", choices=("descendants", "none"), default="descendants",
                   help="with --space: descendants (default) = the space and every org and project below it; "
                        "none = the space's own registries only")


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: `--api-key KEY` must not be taken for `--api-key-file KEY` (and echoed in an error).
    parser = _Parser(prog="har-inventory", allow_abbrev=False,
                     description="Inventory reports (XLSX, Parquet, CSV) of the Docker image versions in a "
                                 "Harness Artifact Registry, one Describe Docker Artifact Detail call per version.",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog=_EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _sub_add = sub.add_parser
    sub.add_parser = lambda *a, **kw: _sub_add(*a, allow_abbrev=False, **kw)  # type: ignore[method-assign]

    run = sub.add_parser("run", help="fetch details for every row and write the reports",
                         description="Fetch Describe Docker Artifact Detail for every row of INPUT and write "
                                     "inventory reports. API key from $HARNESS_API_KEY or --api-key-file.",
                         epilog=_EXIT_CODES)
    _add_input_args(run, optional=True)
    _add_fetch_args(run)
    run.add_argument("--output-dir", type=Path, default=Path("outputs"),
                     help="where reports and the journal go (default outputs/); one run at a time per folder")
    run.add_argument("--format", dest="formats", type=_formats, default=("xlsx", "parquet"),
                     help=f"comma-separated report formats from {', '.join(FORMATS)} (default xlsx,parquet)")
    run.add_argument("--resume", action="store_true", help="reuse the journal: skip rows this input already finished")
    run.add_argument("--retry-failed", action="store_true", help="with --resume, request rows that ended failed again")
    run.add_argument("--dry-run", action="store_true", help="read and validate only; send nothing")
    run.add_argument("--discover", action="store_true",
                     help="no INPUT: list the rows from the registry (--registry-ref) or space (--space) first; "
                          "the list is saved next to the reports")
    _add_discover_args(run, required=False)
    run.add_argument("--no-progress", action="store_true", help="no progress bar (there is none unless stderr is a terminal)")

    val = sub.add_parser("validate", help="read and validate INPUT; send nothing (same as run --dry-run)",
                         description="Read and validate INPUT and print the counts (rows, valid, invalid by "
                                     "reason, duplicates, distinct requests, estimated time at --rate); "
                                     "send nothing. Exit 0 all rows valid, 1 some invalid, 2 file refused.")
    _add_input_args(val)

    disc = sub.add_parser("discover", help="list every image, tag and digest of a registry or space as an input CSV",
                          description="Write the input list from HAR's list endpoints (one row per tag; "
                                      "--include-untagged adds untagged digests).")
    _add_discover_args(disc, required=True)
    disc.add_argument("-o", "--output", type=Path, default=Path("inputs/discovered.csv"),
                      help="CSV to write (default inputs/discovered.csv)")
    disc.add_argument("--rate", type=_positive_float, default=6.6, help="requests/s at most (default 6.6)")
    _add_fetch_args(disc)

    sb = sub.add_parser("sandbox", help="run the bundled HAR-compatible server for demos and tests",
                        description="Serve a HAR-compatible API on loopback (the demo and the tests run "
                                    "against it). Prints `base_url=URL` and `api_key=KEY` on stdout, then "
                                    "serves until Ctrl-C or SIGTERM.")
    from har_inventory.sandbox import server as sandbox_server  # the job itself never uses it
    sandbox_server.add_arguments(sb)
    sb.set_defaults(sandbox_main=sandbox_server.main)
    return parser


def _read_key(args: argparse.Namespace) -> str:
    if args.api_key_file:
        path: Path = args.api_key_file
        try:
            mode = path.stat().st_mode
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read --api-key-file {path}: {exc.strerror}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            args.key_file_warning = f"API key file {path} is readable by other users; chmod 600 it"
    else:
        key = os.environ.get(ENV_KEY, "").strip()
    if not key:
        if args.api_key_file:
            raise UsageError(f"--api-key-file {args.api_key_file} is empty")
        raise UsageError(f"no API key: set {ENV_KEY} or pass --api-key-file PATH")
    if any(c.isspace() for c in key) or not key.isprintable():
        raise UsageError("the API key contains spaces or control characters")
    if not key.isascii():  # an HTTP header carries it; Harness keys are ASCII
        raise UsageError("the API key contains non-ASCII characters (a pasted typographic quote or dash?)")
    return key


def _empty_summary(state: str, rows: int = 0, requests: int = 0) -> str:
    """The summary line of a run that never reached its reports (same fields as a finished run)."""
    return (f"rows={rows} ok=0 not_found=0 forbidden=0 unauthorized=0 failed=0 unsent=0 invalid=0 "
            f"requests={requests} retries=0 saved=0 elapsed=0.0s run={state}")


def _refused_summary(msg: str) -> int:
    if logs.apart_from_stderr():  # the cron log says why nothing ran (errors before set-up can't)
        log.error("refused: %s", msg, extra={"event": "refused", "exit_code": EXIT_USAGE})
    print(f"har-inventory: error: {msg}", file=sys.stderr)
    print(_empty_summary("refused"), file=sys.stderr)
    return EXIT_USAGE


def _check_output_dir(path: Path) -> None:
    """Create `--output-dir` and prove it writable before anything is sent (exit 2 otherwise)."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".har-inventory-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"--output-dir {path} is not a writable folder: {exc.strerror or exc}") from None


def _validate(args: argparse.Namespace) -> int:
    table = read_input(args.input, delimiter=args.delimiter, sheet=args.sheet,
                       default_registry_ref=args.registry_ref)
    text, code = dry_run_report(table, rate=args.rate)
    print(text)
    return code


def _fetch_config(args: argparse.Namespace) -> FetchConfig:
    """Base URL and key checked, logging set up (with the key redacted); nothing sent yet."""
    base = args.base_url or os.environ.get(ENV_BASE_URL) or har.DEFAULT_BASE_URL
    try:
        base = check_base_url(base, allow_insecure_http=args.allow_insecure_http)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    key = _read_key(args)
    try:
        logs.setup(fmt=args.log_format, log_file=args.log_file, verbose=args.verbose, secrets=[key])
    except OSError as exc:  # a folder that does not exist (yet), a directory, no permission
        raise UsageError(f"--log-file {args.log_file} cannot be opened for appending: "
                         f"{exc.strerror or exc}") from None
    if getattr(args, "key_file_warning", None):
        log.warning("%s", args.key_file_warning, extra={"event": "key_file_permissions"})
    return FetchConfig(base_url=base, api_key=key, concurrency=args.concurrency, rate=args.rate,
                       timeout=args.timeout, max_attempts=args.max_attempts,
                       max_retry_wait=args.max_retry_wait, down_after=args.down_after)


def _discover(args: argparse.Namespace, cfg: FetchConfig, output: Path):
    """Run discovery and write its CSV; returns the `Discovery`. Raises UsageError, DiscoveryError."""
    from har_inventory import discover as disc

    try:
        registry_ref = har.parse_registry_ref(args.registry_ref) if args.registry_ref else None
        space = disc.parse_space_ref(args.space) if args.space else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    found = disc.run_discovery(cfg, registry_ref=registry_ref, space=space, image_filter=args.image_filter,
                               tag_filter=args.tag_filter, include_untagged=args.include_untagged,
                               space_scope=args.space_scope)
    disc.write_discovered_csv(found, output)  # its warnings are already logged, one line each
    log.info("discovered %d rows in %d registries, %d images (%d requests, %d warnings): %s",
             len(found.rows), found.registries, found.images, found.requests, len(found.warnings), output,
             extra={"event": "discovered", "rows": len(found.rows), "requests": found.requests})
    return found


def _discover_command(args: argparse.Namespace) -> int:
    from har_inventory.discover import DiscoveryError

    cfg = _fetch_config(args)
    try:
        found = _discover(args, cfg, args.output)
    except DiscoveryError as exc:
        print(f"har-inventory: discovery stopped: {exc}", file=sys.stderr)
        print("rows=0 registries=0 images=0 requests=0 warnings=0 run=aborted", file=sys.stderr)
        return EXIT_ABORTED
    print(args.output)
    print(f"rows={len(found.rows)} registries={found.registries} images={found.images} "
          f"requests={found.requests} warnings={len(found.warnings)}", file=sys.stderr)
    return 0 if not found.warnings else 1


def _run(args: argparse.Namespace) -> int:
    if args.discover:
        if args.input is not None:
            raise UsageError("give either INPUT or --discover, not both")
        if not (args.registry_ref or args.space):
            raise UsageError("--discover needs --registry-ref or --space")
    elif args.input is None:
        raise UsageError("the following arguments are required: input (or --discover)")
    elif (args.space or args.image_filter or args.tag_filter or args.include_untagged
          or args.space_scope != "descendants"):
        raise UsageError("--space, --space-scope, --image-filter, --tag-filter and --include-untagged "
                         "go with --discover")
    if args.dry_run and not args.discover:
        return _validate(args)
    if args.retry_failed and not args.resume:
        raise UsageError("--retry-failed goes with --resume")
    cfg = _fetch_config(args)
    _check_output_dir(args.output_dir)
    with ExitStack() as held:  # before discovery too: it sends requests (run_job claims it again)
        try:
            held.enter_context(claim(args.output_dir))
        except (OutputDirBusy, OSError) as exc:
            msg = str(exc) if isinstance(exc, OutputDirBusy) else _lock_file_error(args.output_dir, exc)
            raise UsageError(msg) from None
        return _run_claimed(args, cfg)


def _lock_file_error(output_dir: Path, exc: OSError) -> str:
    why = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
    return f"--output-dir {output_dir}: cannot take its lock file {LOCK_NAME}: {why}"


def _run_claimed(args: argparse.Namespace, cfg: FetchConfig) -> int:
    """`run` once the options are checked and the output directory is ours: discovery, the job."""
    prior_requests = 0
    if args.discover:
        from datetime import datetime, timezone

        from har_inventory.discover import DiscoveryError

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        args.input = args.output_dir / f"discovered-{stamp}.csv"
        try:
            found = _discover(args, cfg, args.input)
        except DiscoveryError as exc:
            print(f"har-inventory: discovery stopped: {exc}", file=sys.stderr)
            print(_empty_summary("aborted"), file=sys.stderr)
            return EXIT_ABORTED
        print(args.input)
        prior_requests = found.requests
        if args.dry_run:
            return _validate(args)
        args.registry_ref = None  # the discovered CSV names each row's registry
    table = read_input(args.input, delimiter=args.delimiter, sheet=args.sheet,
                       default_registry_ref=args.registry_ref)
    opts = RunOptions(
        input_path=args.input, fetch=cfg,
        output_dir=args.output_dir, formats=args.formats, registry_ref=args.registry_ref,
        delimiter=args.delimiter, sheet=args.sheet, resume=args.resume, retry_failed=args.retry_failed,
        progress=sys.stderr.isatty() and not args.no_progress and args.log_file is None,
    )
    try:
        outcome = run_job(opts, table=table, prior_requests=prior_requests)
    except (OSError, sqlite3.Error) as exc:
        log.error("cannot write to %s: %s", args.output_dir, exc, extra={"event": "abort"})
        print(_empty_summary("aborted", rows=len(table.rows)), file=sys.stderr)
        return EXIT_ABORTED
    for path in outcome.paths:
        print(path)
    sys.stdout.flush()
    print(outcome.summary, file=sys.stderr)
    return outcome.exit_code


def main(argv: list[str] | None = None) -> int:
    """Entry point of `har-inventory`; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command == "sandbox":
            return args.sandbox_main(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "discover":
            return _discover_command(args)
        return _run(args)
    except UsageError as exc:
        return _refused_summary(str(exc))
    except InputError as exc:
        return _refused_summary(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except BrokenPipeError:  # `har-inventory validate x.csv | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
