"""The aiohttp plumbing under `fetch.py`: base URL check, the session, proxy settings, error text.

Part of the fetch stage (the only module family that touches aiohttp). Proxy
settings come from the environment as aiohttp's `trust_env=True` reads them
(`HTTP_PROXY`/`HTTPS_PROXY`, `NO_PROXY`, proxy credentials from `~/.netrc`),
but looked up once per origin instead of on every request: with
`trust_env=True` aiohttp reads `~/.netrc` and the proxy variables in a worker
thread for each request, which cost more than half the client's CPU time
(issue 7). The session itself has `trust_env=False`, so `~/.netrc`
credentials are never sent to the registry (the API key is the only credential).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp.helpers import get_env_proxy_for_url

from har_inventory import __version__, har


class InsecureURLError(ValueError):
    """The API key would be sent in clear text to a host that is not loopback."""


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Validate `--base-url`: http(s) with a host; plain http only to loopback.

    Returns the URL without a trailing slash. Raises `ValueError` (bad URL) or
    `InsecureURLError` (http:// to a non-loopback host without
    `--allow-insecure-http`: the key would travel in clear text).
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base URL {base_url!r} is not an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"base URL {base_url!r} must not have a query or fragment")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise InsecureURLError(
            f"refusing to send the API key over plain http to {parts.hostname}; "
            "use https, or pass --allow-insecure-http"
        )
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_session(api_key: str, *, timeout: float, concurrency: int) -> aiohttp.ClientSession:
    """The one aiohttp session: key header, total timeout (seconds), connection limit.

    `trust_env=False`: proxies are passed per request (see `EnvProxy`).
    """
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={har.API_KEY_HEADER: api_key, "User-Agent": f"har-inventory/{__version__}",
                 "Accept": "application/json"},
        connector=aiohttp.TCPConnector(limit=concurrency),
        trust_env=False, raise_for_status=False)


ProxySetting = tuple[yarl.URL | None, aiohttp.BasicAuth | None]


class EnvProxy:
    """The proxy for a URL from the environment, as `trust_env=True` would pick it, cached per origin.

    `for_url(url_text, url)` -> `(proxy URL, proxy credentials)`, `(None, None)` for a
    direct connection (no proxy variable for the scheme, or the host matched
    by `NO_PROXY`). The environment is read once per (scheme, host, port):
    set the variables before the run starts.
    """

    def __init__(self, base_url: str) -> None:
        self._base = base_url.rstrip("/") + "/"  # URLs under it share its origin: one lookup for all
        self._base_setting: ProxySetting | None = None
        self._cache: dict[tuple[str, str | None, int | None], ProxySetting] = {}

    def for_url(self, url_text: str, url: yarl.URL) -> ProxySetting:
        """The setting for `url` (`url_text` is the same URL as a string)."""
        if url_text.startswith(self._base):
            if self._base_setting is None:
                self._base_setting = self._lookup(url)
            return self._base_setting
        origin = (url.scheme, url.host, url.port)
        found = self._cache.get(origin)
        if found is None:
            found = self._cache[origin] = self._lookup(url)
        return found

    @staticmethod
    def _lookup(url: yarl.URL) -> ProxySetting:
        try:
            return get_env_proxy_for_url(url)
        except LookupError:  # NO_PROXY matched, or no proxy for this scheme
            return None, None


def transport_message(exc: BaseException) -> str:
    """A readable transport error, without the request headers (where the key travels)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection before responding"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "response body cut short"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"bad response: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
