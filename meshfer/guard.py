"""What keeps other websites and greedy clients from driving ``meshfer serve``: one pure ASGI middleware, outside
everything else, that

- refuses a request whose ``Host`` is not this server's name or address (``localhost``, ``127.0.0.1``, ``[::1]``
  or the ``--host`` it listens on): a page on another site that points its own name at 127.0.0.1 (DNS rebinding)
  sends its own name as the Host;
- refuses a WebSocket handshake, and any POST/PUT/PATCH/DELETE, whose ``Origin`` is neither the server's own nor
  the one ``--cors-origin`` names: a browser sends a multipart POST or a WebSocket handshake to any site without
  asking first, so withholding the CORS grant would only hide the answer, not stop the work. Clients that send no
  ``Origin`` (curl, scripts) are not browsers driven by a page and pass;
- caps the requests and streams open at once in this worker process (a stalled upload holds its buffer);
- adds the page's security headers to every response (no remote origin in the Content-Security-Policy).

Every refusal is a JSON ``{"error": ...}`` (a refused WebSocket handshake: HTTP 403) and one log line.
"""
from __future__ import annotations

import json
import logging

from meshfer.http_settings import ServiceSettings

log = logging.getLogger(__name__)

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # every interface: the names it is reached by are not known here
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# 'self' only: the page, its script and style, its API and WebSocket come from this server and nowhere else.
# 'wasm-unsafe-eval' lets a same-origin WebAssembly module compile (in-browser inference); blob: is the picture of
# an uploaded file, data: the empty favicon.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
                           "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer")]


def host_name(authority: str) -> str:
    """``name[:port]`` or ``[v6][:port]`` -> the name, lower case, without brackets."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:authority.find("]")] if "]" in authority else authority
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


class Refusal(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Guard:
    """The middleware (see the module's docstring)."""

    def __init__(self, app, settings: ServiceSettings):
        self.app, self.settings = app, settings
        bound = host_name(settings.host)
        self.hosts = None if bound in WILDCARD_HOSTS else LOCAL_NAMES | {bound}
        self.open = 0  # requests and streams in this worker now; the event loop's thread alone changes it

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            self.check(scope, headers)
        except Refusal as refusal:
            log.warning("refused %s %s: %s", scope.get("method", "WS"), scope["path"], refusal.message)
            return await refuse(scope, send, refusal)
        self.open += 1
        try:
            await self.app(scope, receive, with_security_headers(send) if scope["type"] == "http" else send)
        finally:
            self.open -= 1

    def check(self, scope, headers: dict[str, str]) -> None:
        host = headers.get("host", "")
        if self.hosts is not None and host_name(host) not in self.hosts:
            raise Refusal(403, f"Host {host!r} is not this server's name; use http://127.0.0.1 or http://localhost")
        origin = headers.get("origin")
        if origin is not None and (scope["type"] == "websocket" or scope.get("method") in UNSAFE_METHODS):
            if origin not in self.own_origins(host):
                raise Refusal(403, f"Origin {origin!r} may not use this server (allow a page's origin with "
                                   "--cors-origin)")
        if self.open >= self.settings.max_connections:
            raise Refusal(503, f"too many open requests ({self.open}, limit {self.settings.max_connections}); "
                               "retry shortly", {"Retry-After": "1"})

    def own_origins(self, host: str) -> set[str]:
        origins = {f"http://{host}", f"https://{host}"}
        return origins | {self.settings.cors_origin} if self.settings.cors_origin else origins


def with_security_headers(send):
    async def send_with_headers(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
        await send(message)
    return send_with_headers


async def refuse(scope, send, refusal: Refusal) -> None:
    """The refusal as a JSON response; for a WebSocket handshake the same as its HTTP answer where the server can
    send one (the ``websocket.http.response`` extension), else a plain 403."""
    body = json.dumps({"error": refusal.message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *[(k.lower().encode(), v.encode()) for k, v in refusal.headers.items()]]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": refusal.status,
                    "headers": [*headers, (b"connection", b"close"), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
