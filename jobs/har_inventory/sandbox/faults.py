"""Fault injection for the sandbox: the `--faults SPEC` syntax, its parser and the decider.

SPEC is a comma- (or semicolon-) separated list of items:

  Rates, each a probability in [0, 1] per request (their sum must be <= 1):
    503=R           503 JSON error body
    500=R           500 JSON error "internal error" (transient, not "not found")
    502=R, 504=R    HTML error page from a proxy
    429=R           429 HTML page, no Retry-After (what Harness sends today)
    429-seconds=R   429 with `Retry-After: <seconds>`
    429-date=R      429 with `Retry-After: <HTTP-date>`
    reset=R         connection closed before any response
    stall=R         no answer for `stall-seconds`, then the normal answer
    truncated=R     200, application/json, body cut in half (Content-Length matches)
    html200=R       200 with a text/html maintenance page
  Parameters:
    burst=N         a fault drawn from the rates repeats for the next N requests
                    (any key): an outage of N+1 consecutive failures. Default 0.
    stall-seconds=S stall length in seconds (default 30)
    retry-after=S   seconds sent (or added to now for the date form) in
                    Retry-After (default 1)
  Scripts, per key (a digest or a tag: matched against the request's `digest`
  query value first, then its `{version}` path segment):
    script:KEY=F1,F2,...   each distinct request matching KEY (one details
                           key: registry_ref, artifact, version, version_type,
                           digest) gets F1, F2, ... on its first attempts, in
                           order, then normal answers
    always:KEY=F           every request for KEY gets F
  where F is a fault name above, a status (`503`, `429`…) or `200`/`ok` for a
  normal answer. Tokens without `=` continue the preceding script.

Example: `503=0.03,502=0.02,429=0.02,429-seconds=0.01,429-date=0.01,reset=0.01,
stall=0.005,truncated=0.01,html200=0.01,burst=3,stall-seconds=5`
or `script:sha256:ab…=503,503,200;always:1.4.2=reset`.

Determinism: a rate fault is drawn from a hash of (seed, request key, attempt
number of that key), so the same run replays the same faults, and each
attempt is an independent draw (a key cannot fail forever when rates < 1).
Bursts follow arrival order, so they vary with client concurrency.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

FAULT_KINDS = (
    "503", "500", "502", "504", "429", "429-seconds", "429-date",
    "reset", "stall", "truncated", "html200",
)
OK = "ok"
_ALIASES = {"200": OK, OK: OK}
_PARAMS = ("burst", "stall-seconds", "retry-after")


@dataclass(frozen=True)
class FaultSpec:
    """A parsed SPEC: `rates` fault kind -> probability; `scripts`/`always` key -> kinds ("ok" = normal)."""

    rates: tuple[tuple[str, float], ...] = ()
    burst: int = 0
    stall_seconds: float = 30.0
    retry_after: int = 1
    scripts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    always: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.rates or self.scripts or self.always)


def _fault_name(token: str, where: str) -> str:
    token = token.strip()
    if token in _ALIASES:
        return _ALIASES[token]
    if token in FAULT_KINDS:
        return token
    raise ValueError(f"unknown fault {token!r} in {where!r}; expected one of "
                     f"{', '.join(FAULT_KINDS)}, 200 or ok")


def parse_faults(spec: str | None) -> FaultSpec:
    """Parse a SPEC (module docstring) into a `FaultSpec`.

    Raises ValueError with a readable message on an unknown item, a rate
    outside [0, 1], rates summing above 1, or a bad number.
    """
    if spec is None or not spec.strip():
        return FaultSpec()
    rates: dict[str, float] = {}
    params: dict[str, float] = {}
    scripts: dict[str, list[str]] = {}
    always: dict[str, str] = {}
    last_script: str | None = None
    for raw in spec.replace(";", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        if "=" not in item:
            if last_script is None:
                raise ValueError(f"fault item {item!r} has no '=' (expected NAME=VALUE)")
            scripts[last_script].append(_fault_name(item, item))
            continue
        name, _, value = item.rpartition("=")
        name, value = name.strip(), value.strip()
        last_script = None
        if name.startswith("script:") or name.startswith("always:"):
            kind, _, key = name.partition(":")
            if not key:
                raise ValueError(f"{kind} item {item!r} has no key (expected {kind}:DIGEST-OR-TAG=FAULT)")
            if kind == "script":
                scripts[key] = [_fault_name(value, item)]
                last_script = key
            else:
                always[key] = _fault_name(value, item)
            continue
        if name in _PARAMS:
            try:
                params[name] = float(value)
            except ValueError:
                raise ValueError(f"{name} needs a number, got {value!r}") from None
            if params[name] < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
            continue
        if name not in FAULT_KINDS:
            raise ValueError(f"unknown fault {name!r} in {item!r}; expected one of "
                             f"{', '.join(FAULT_KINDS + _PARAMS)}, script:KEY or always:KEY")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"rate of {name} must be a number in [0, 1], got {value!r}") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate of {name} must be in [0, 1], got {value!r}")
        rates[name] = rate
    total = sum(rates.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"fault rates add up to {total:g}, more than 1")
    return FaultSpec(
        rates=tuple(rates.items()),
        burst=int(params.get("burst", 0)),
        stall_seconds=params.get("stall-seconds", 30.0),
        retry_after=int(params.get("retry-after", 1)),
        scripts=tuple((k, tuple(v)) for k, v in scripts.items()),
        always=tuple(always.items()),
    )


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


@dataclass
class FaultDecider:
    """Decides the fault of each request; thread-safe; state = attempt counters, script positions, burst.

    `decide(key, digest, version)` returns a fault kind from `FAULT_KINDS`, or
    None for a normal answer. `key` identifies the request for the attempt
    count (the details RequestKey joined by `|`, or the path + query of a list call).
    """

    spec: FaultSpec
    seed: int = 0
    _attempts: dict[str, int] = field(default_factory=dict)
    _script_pos: dict[str, int] = field(default_factory=dict)
    _burst_left: int = 0
    _burst_kind: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attempts(self, key: str) -> int:
        """Requests seen so far for `key`."""
        return self._attempts.get(key, 0)

    def _scripted(self, key: str, candidates: list[str]) -> tuple[bool, str | None]:
        scripts = dict(self.spec.scripts)
        always = dict(self.spec.always)
        for cand in candidates:
            if cand in scripts:
                pos = self._script_pos.get(f"{cand}\x1f{key}", 0)
                self._script_pos[f"{cand}\x1f{key}"] = pos + 1
                steps = scripts[cand]
                if pos < len(steps):
                    kind = steps[pos]
                    return True, None if kind == OK else kind
            if cand in always:
                kind = always[cand]
                return True, None if kind == OK else kind
        return False, None

    def decide(self, key: str, digest: str = "", version: str = "") -> str | None:
        with self._lock:
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
            done, kind = self._scripted(key, [c for c in (digest, version) if c])
            if done:
                return kind
            if self._burst_left > 0:
                self._burst_left -= 1
                return self._burst_kind
            if not self.spec.rates:
                return None
            u = unit_hash(self.seed, key, attempt)
            acc = 0.0
            for name, rate in self.spec.rates:
                acc += rate
                if u < acc:
                    if self.spec.burst > 0:
                        self._burst_left, self._burst_kind = self.spec.burst, name
                    return name
            return None


def parse_latency(value: str | None) -> tuple[int, int] | None:
    """`"20:200"` -> (20, 200) milliseconds, `"50"` -> (50, 50); None/"" -> None. ValueError if bad."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    lo, sep, hi = text.partition(":")
    try:
        a, b = int(lo), int(hi) if sep else int(lo)
    except ValueError:
        raise ValueError(f"latency must be MS or MIN:MAX in milliseconds, got {value!r}") from None
    if a < 0 or b < a:
        raise ValueError(f"latency range must satisfy 0 <= MIN <= MAX, got {value!r}")
    return a, b
