"""Security headers and the scheme behind a reverse proxy.

Every response carries ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY``; HTML pages also
carry a ``Content-Security-Policy`` that allows only this server's own scripts, plus the page's own inline
scripts by their SHA-256 (folium's map set-up, the pages' configuration, Swagger UI's start-up), so an
injected script does not run. Styles may be inline (folium, Leaflet and ReDoc write them); images may be
``data:``/``blob:`` (Leaflet, the tile canvases) and come from the configured basemap's host.

``SITMAP_FORWARDED_ALLOW_IPS`` names the proxies whose ``X-Forwarded-Proto``/``X-Forwarded-For`` are
believed (uvicorn's ProxyHeadersMiddleware, installed by the app itself so that it holds however the app is
served): the request scheme then says whether the browser used https (the session cookie is then Secure,
api/routers/signin.py) and the client address is the browser's (the per-address sign-in limit).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from data.settings import Settings

ALWAYS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
_INLINE_SCRIPT = re.compile(rb"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.S | re.I)
_SRC = re.compile(rb"\ssrc\s*=", re.I)


def basemap_source(url: str | None) -> str:
    """The CSP source of a basemap URL template: ``https://{s}.tile.example.org/...`` -> ``https://*.tile.example.org``."""
    if not url:
        return ""
    parts = urlsplit(url)
    labels = parts.netloc.split(".")
    if labels and "{" in labels[0]:
        labels[0] = "*"
    host = ".".join(labels)
    return f"{parts.scheme}://{host}" if "{" not in host else f"{parts.scheme}:"


def inline_script_hashes(html: bytes) -> list[str]:
    hashes = []
    for m in _INLINE_SCRIPT.finditer(html):
        if not _SRC.search(m.group("attrs")):
            digest = base64.b64encode(hashlib.sha256(m.group("body")).digest()).decode()
            hashes.append(f"'sha256-{digest}'")
    return sorted(set(hashes))


@lru_cache(maxsize=64)
def content_security_policy(html: bytes, basemap: str) -> str:
    scripts = " ".join(["'self'", *inline_script_hashes(html)])
    return ("default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob: {basemap}".rstrip() + "; "
            "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; manifest-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeadersMiddleware:
    """Pure ASGI: adds the headers; an HTML body is held until complete to hash its inline scripts (pages are
    small and built once per worker; the policy of a given page is cached)."""

    def __init__(self, app: ASGIApp, basemap_url: str | None = None) -> None:
        self.app = app
        self.basemap = basemap_source(basemap_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if not headers.get("content-type", "").startswith("text/html"):
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            MutableHeaders(scope=start)["Content-Security-Policy"] = content_security_policy(body, self.basemap)
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, wrapped)


def install(app: FastAPI, settings: Settings) -> None:
    """Security headers on every response; then (outermost) the trusted proxies' scheme and client address."""
    app.add_middleware(SecurityHeadersMiddleware, basemap_url=settings.basemap_url)
    if settings.forwarded_allow_ips.strip():
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
