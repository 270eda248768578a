"""The HAR protocol as pure functions: no I/O, no HTTP library.

Everything here takes and returns plain values (strings, status codes,
header mappings, bytes), so each rule of `shared/har/API-NOTES.md` is tested
with literals. Sections cited as "notes §N" refer to that file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Mapping
from urllib.parse import quote_plus

from har_inventory import jsontext

DEFAULT_BASE_URL = "https://app.harness.io/gateway/har/api/v1"
API_KEY_HEADER = "x-api-key"

# Docker grammar (notes §2; the separators as in the distribution reference
# grammar: `.`, `_`, `__` or a run of `-`).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# One segment of a registry_ref (account, org, project or registry identifier).
# Harness identifiers are letters, digits, `_`, `-`, `.` and `$`; nothing that
# would need a percent-escape in a path (notes §2).
REF_SEGMENT_RE = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_.$-]*")


class ProtocolError(ValueError):
    """A value that cannot be put into a HAR request (bad ref, name, tag or digest)."""


def strip_plus(value: str) -> str:
    """`acc/reg/+` -> `acc/reg`: the trailing `/+` users copy from the docs (notes §1)."""
    value = value.strip()
    while value.endswith("/+"):
        value = value[:-2].rstrip()
    return value


def parse_registry_ref(value: str) -> str:
    """Normalize a registry_ref: 2 to 4 `/`-separated segments, optional trailing `/+`.

    Returns the ref without `/+`. Raises `ProtocolError` with the reason
    (notes §1: account/registry, account/org/registry, account/org/project/registry).
    """
    ref = strip_plus(value)
    if not ref:
        raise ProtocolError("registry_ref is empty")
    segments = ref.split("/")
    if not 2 <= len(segments) <= 4:
        raise ProtocolError(
            f"registry_ref {value!r} has {len(segments)} segment(s); expected 2 to 4 "
            "(account/registry, account/org/registry or account/org/project/registry)"
        )
    for seg in segments:
        if not REF_SEGMENT_RE.fullmatch(seg):
            raise ProtocolError(f"registry_ref segment {seg!r} is not a valid identifier")
    return ref


def check_artifact(value: str) -> str:
    """Validate an image name (notes §2 grammar), accepting a trailing `/+`. Returns it without."""
    name = strip_plus(value)
    if not name:
        raise ProtocolError("artifact is empty")
    if not IMAGE_NAME_RE.fullmatch(name):
        raise ProtocolError(f"artifact {value!r} is not a valid Docker image name")
    return name


def check_tag(value: str) -> str:
    """Validate a tag (notes §2 grammar)."""
    if not TAG_RE.fullmatch(value):
        raise ProtocolError(f"tag {value!r} is not a valid Docker tag")
    return value


def check_digest(value: str) -> str:
    """Validate a digest: `sha256:` + 64 lower-case hex (notes §2)."""
    if not DIGEST_RE.fullmatch(value):
        raise ProtocolError(f"digest {value!r} is not sha256: followed by 64 hex digits")
    return value


def details_path(registry_ref: str, artifact: str, version: str) -> str:
    """The path of Describe Docker Artifact Detail, in the plain `/+` form (notes §2).

    Built by plain string joining, never percent-encoded, no trailing slash:
    `/registry/{ref}/+/artifact/{artifact}/+/version/{version}/docker/details`.
    Inputs must already be validated; `/+` suffixes are stripped first.
    """
    return (
        f"/registry/{strip_plus(registry_ref)}/+/artifact/{strip_plus(artifact)}"
        f"/+/version/{version}/docker/details"
    )


def details_query(digest: str, version_type: str) -> dict[str, str]:
    """Query parameters of the details call: always both (notes §1, §3)."""
    return {"digest": digest, "version_type": version_type}


_QUERY_SAFE_RE = re.compile(r"[A-Za-z0-9_.~-]*")  # what `urlencode` (quote_plus) leaves as is


def _query_value(value: str) -> str:
    """`quote_plus(value)`, without its cost for the usual values (a digest, `TAG`)."""
    if _QUERY_SAFE_RE.fullmatch(value):
        return value
    if _QUERY_SAFE_RE.fullmatch(value.replace(":", "")):
        return value.replace(":", "%3A")
    return quote_plus(value)


def details_url(base_url: str, registry_ref: str, artifact: str, version: str,
                digest: str, version_type: str) -> str:
    """Full URL string: base + plain path + encoded query (as `urlencode` encodes it).
    The path has no `%` escapes."""
    return (
        base_url.rstrip("/")
        + details_path(registry_ref, artifact, version)
        + "?"
        + "&".join(f"{_query_value(k)}={_query_value(v)}" for k, v in details_query(digest, version_type).items())
    )


def default_version_type(version: str) -> str:
    """`DIGEST` when the version is itself a digest, else `TAG` (notes §3)."""
    return "DIGEST" if DIGEST_RE.fullmatch(version) else "TAG"


# ---------------------------------------------------------------- responses

class Outcome:
    """How a response is classified (see `classify`)."""

    OK = "ok"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    BAD_REQUEST = "bad_request"  # permanent: 400, 404 route, other 4xx
    RETRY = "retry"  # transient: 429, 500 (not "not found"), 502, 503, 504, bad 200 body


@dataclass(frozen=True, slots=True)
class Decoded:
    """A classified response.

    `outcome` is an `Outcome` value; `data` is the 200's `data` object;
    `message` a short readable reason for anything not ok (never the whole body).
    """

    outcome: str
    status: int
    message: str | None = None
    data: Mapping[str, Any] | None = None


_NOT_FOUND_RE = re.compile(r"not\s*found|no rows|does not exist|doesn't exist", re.I)
_TAG_RE = re.compile(r"<[^>]+>")
_WS_RE = re.compile(r"\s+")
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
MAX_MESSAGE = 200


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def error_message(body: bytes, content_type: str | None = None) -> str:
    """A readable one-line message from any error body: JSON, plain text or HTML (notes §5).

    JSON: `message` (and `code` if no message). HTML: the `<title>`, else the
    text with tags removed. Cut to 200 characters. Never raises.
    """
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return ""
    if text[:1] in "{[":
        try:
            obj = jsontext.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            msg = obj.get("message") or obj.get("error") or obj.get("code")
            if msg is not None:
                return _WS_RE.sub(" ", str(msg)).strip()[:MAX_MESSAGE]
    if "<" in text and ">" in text:
        m = _TITLE_RE.search(text)
        if m and m.group(1).strip():
            text = m.group(1)
        else:
            text = _TAG_RE.sub(" ", text)
    return _WS_RE.sub(" ", text).strip()[:MAX_MESSAGE]


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Decoded:
    """Classify one response of the details call (notes §4, §5).

    - 200 with a JSON object whose `data` is an object -> OK (anything else
      in a 200, truncated JSON or an HTML page, is RETRY: a proxy's doing).
    - 401 -> UNAUTHORIZED; 403 -> FORBIDDEN (permanent).
    - 404 with JSON (SaaS) -> NOT_FOUND; 404 plain text is the router's
      `404 page not found`: BAD_REQUEST (a path this client should never build).
    - 500 whose message says something was not found -> NOT_FOUND; other 500 -> RETRY.
    - 429, 502, 503, 504, 408 -> RETRY; any other 4xx -> BAD_REQUEST; other 5xx -> RETRY.
    """
    ctype = (_header(headers, "content-type") or "").lower()
    if status == 200:
        try:
            obj = jsontext.loads(body)
        except ValueError:
            kind = "HTML page" if "html" in ctype or body.lstrip()[:1] == b"<" else "invalid JSON"
            return Decoded(Outcome.RETRY, status, f"200 with {kind} body ({len(body)} bytes)")
        data = obj.get("data") if isinstance(obj, dict) else None
        if not isinstance(data, dict):
            return Decoded(Outcome.RETRY, status, "200 without a `data` object")
        return Decoded(Outcome.OK, status, None, data)
    message = error_message(body, ctype) or f"HTTP {status}"
    if status == 401:
        return Decoded(Outcome.UNAUTHORIZED, status, message)
    if status == 403:
        return Decoded(Outcome.FORBIDDEN, status, message)
    if status == 404:
        if "json" in ctype or body.lstrip()[:1] == b"{":
            return Decoded(Outcome.NOT_FOUND, status, message)
        return Decoded(Outcome.BAD_REQUEST, status, f"route not matched: {message}")
    if status == 500 and _NOT_FOUND_RE.search(message):
        return Decoded(Outcome.NOT_FOUND, status, message)
    if status in (408, 429) or status >= 500:
        return Decoded(Outcome.RETRY, status, message)
    return Decoded(Outcome.BAD_REQUEST, status, message)


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), else None.

    Harness sends none today (notes §6); honour it if it appears. A date in
    the past gives 0. Garbage gives None. `now` defaults to the current UTC time.
    """
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


# ---------------------------------------------------------------- values

_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|PB|KiB|MiB|GiB|TiB|PiB)?\s*", re.I)
_UNITS = {"": 0, "B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4, "PB": 5}


def parse_size(value: Any) -> int | None:
    """`"12.34MB"` -> bytes, with 1 KB = 1024 B (notes §4); optional space; None if unparsable.

    An integer (or digit string without unit) is taken as bytes already.
    The result is rounded to the nearest byte (the string has two decimals,
    so it is approximate beyond KB).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(round(value)) if value >= 0 else None
    m = _SIZE_RE.fullmatch(str(value))
    if not m:
        return None
    unit = (m.group(2) or "").upper().replace("I", "")
    return int(round(float(m.group(1)) * 1024 ** _UNITS[unit]))


_MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the last millisecond a datetime holds


def epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds (decimal string or int) -> int milliseconds, UTC (notes §4).

    None for <= 0 (Harness's "never"), beyond the year 9999, a float, or junk."""
    if value is None or isinstance(value, bool):
        return None
    if type(value) is not int:
        try:
            value = int(str(value).strip())
        except ValueError:
            return None
    return value if 0 < value <= _MAX_EPOCH_MS else None

