"""The sandbox's router: raw request path -> `Route`, written from API-NOTES §2 and §7.

It works on the RAW path (as sent, before any decoding), like the Harness
server's rewrite: find the first `/+/` after `/registry/` (or `/spaces/`);
what is before it is the registry_ref (or space_ref). In the rest, the
artifact is what is before the next `/+/`; an artifact without `/` may also
omit its `/+`. Without a `/+/` at all, the ref is a single segment (which the
handler then rejects as a bad ref, 400).

`parse_path` returns None for anything the router would not match: a path
with any percent-escape, a trailing slash, an unknown base or tail. The app
answers those with `404 page not found` (text/plain).
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_PATHS = ("/gateway/har/api/v1", "/har/api/v1")


@dataclass(frozen=True)
class Route:
    """A matched route.

    `kind`: "details" | "registries" | "artifacts" | "tags" | "versions".
    `ref`: the registry_ref, or the space_ref for "registries" (no `/+`).
    `artifact`, `version`: path values where the route has them, else "".
    `base`: which base path was used.
    """

    kind: str
    ref: str
    artifact: str = ""
    version: str = ""
    base: str = ""


def _split_ref(rest: str) -> tuple[str, str] | None:
    """`acc/org/reg/+/tail` -> ("acc/org/reg", "tail"); `reg/tail` -> ("reg", "tail")."""
    idx = rest.find("/+/")
    if idx >= 0:
        return rest[:idx], rest[idx + 3:]
    head, sep, tail = rest.partition("/")
    if not sep:
        return None
    return head, tail


def _parse_registry_tail(ref: str, tail: str, base: str) -> Route | None:
    if tail == "artifacts":
        return Route("artifacts", ref, base=base)
    if not tail.startswith("artifact/"):
        return None
    split = _split_ref(tail[len("artifact/"):])
    if split is None:
        return None
    artifact, rest = split
    if not artifact:
        return None
    if rest in ("tags", "versions"):
        return Route(rest, ref, artifact, base=base)
    parts = rest.split("/")
    if len(parts) == 4 and parts[0] == "version" and parts[1] and parts[2:] == ["docker", "details"]:
        return Route("details", ref, artifact, parts[1], base=base)
    return None


def parse_path(raw_path: str) -> Route | None:
    """Route a raw request path (no query). None means the router's 404 (module docstring)."""
    if "%" in raw_path or raw_path.endswith("/"):
        return None
    for base in BASE_PATHS:
        if raw_path.startswith(base + "/"):
            path = raw_path[len(base):]
            break
    else:
        return None
    if path.startswith("/spaces/"):
        split = _split_ref(path[len("/spaces/"):])
        if split is None or split[1] != "registries":
            return None
        return Route("registries", split[0], base=base)
    if path.startswith("/registry/"):
        split = _split_ref(path[len("/registry/"):])
        if split is None:
            return None
        return _parse_registry_tail(split[0], split[1], base)
    return None
