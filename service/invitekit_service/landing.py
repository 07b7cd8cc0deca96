"""The invite landing page: what a browser shows for ``https://<host>/i#<invite>``.

Invariants (the fragment is the invite capability):

* The server never sees the invite: browsers do not send a URL's fragment, the page is the
  same static document for every invite, and its script reads ``location.hash`` locally.
* The page makes no request carrying the invite, or any request at all after loading its
  own assets: ``Content-Security-Policy`` allows scripts, styles and images from this
  origin (images also ``data:``), ``connect-src 'none'``, no frames, forms or base URL;
  ``Referrer-Policy: no-referrer`` (also a ``<meta>`` and ``rel=noreferrer`` on the app
  link) keeps the URL out of any Referer header; there is no analytics.
* It reads like the app's own page: the configured app name (``landing_app_name``), "Open
  in <app>" through the configured app link (``landing_app_link`` + ``#`` + fragment), "Get
  <app>" (``landing_install_link``), a copy button and the QR code of the same link for a
  second device; under "About this invite", the service host ("Hosted by") and the invite
  ID (first 8 hex digits of SHA-256 of the slot id, as the CLI prints it). The same code
  lays it out for a phone and for a wide screen (static/landing.css). The QR code is
  drawn in the browser by ``static/qr.js`` with the npm package ``qrcode-generator``,
  vendored unchanged in ``static/vendor/qrcode-generator/`` with its licence and version, so
  an installed wheel draws it with no checkout and no npm; package-lock.json pins the same
  version and a test keeps the copy equal to it. It does
  not show the expiry: learning it would need a request naming the slot id (spec/SPEC.md,
  "Invite landing page").
* Served at ``landing_path`` (default ``/i``) and its upper-case form (the compact link
  profile, ``HTTPS://HOST/I#BASE32``); ``/.well-known/apple-app-site-association`` and
  ``/.well-known/assetlinks.json`` are served when their files are configured.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from string import Template

from aiohttp import web

from .config import Settings

STATIC_PREFIX = "/_landing"
_ASSETS = {
    "landing.js": "text/javascript",
    "qr.js": "text/javascript",
    "landing.css": "text/css",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'none'; font-src 'none'; frame-src 'none'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cache-Control": "public, max-age=300",
}


QR_LIBRARY_ASSET = "qrcode.js"
#: The vendored copy of the npm package ``qrcode-generator`` (``static/``-relative).
VENDORED_QR_LIBRARY = ("vendor", "qrcode-generator", "qrcode.js")


def _static(*name: str) -> bytes:
    return resources.files("invitekit_service").joinpath("static", *name).read_bytes()


def qr_library(settings: Settings) -> bytes:
    """The QR library's script: the configured file, else the copy shipped in the package.

    A configured file that cannot be read raises ``OSError`` (a start-up error).
    """
    if settings.landing_qr_library is not None:
        return settings.landing_qr_library.read_bytes()
    return _static(*VENDORED_QR_LIBRARY)


def compact_path(path: str) -> str:
    """The compact profile's spelling of the landing path (upper case)."""
    return path.upper()


def render_page(settings: Settings, *, with_qr_library: bool) -> bytes:
    """The one page every invite gets (no per-invite data: the server has none).

    The app's name and its links are the service's configuration, so they are written into
    the page here; the invite itself is read by the page's script from the fragment.
    """
    template = Template(_static("landing.html").decode())
    path = settings.landing_path or "/i"
    library = f'<script src="{STATIC_PREFIX}/{QR_LIBRARY_ASSET}"></script>\n'
    name = settings.landing_app_name
    app = html.escape(name or "the app", quote=True)
    install = ""
    if settings.landing_install_link:
        install = (
            f'<a id="get-app" class="button" href="'
            f'{html.escape(settings.landing_install_link, quote=True)}"'
            f' rel="noreferrer noopener">Get {app}</a>'
        )
    if settings.landing_app_link and settings.landing_install_link:
        hint = f"New to {app}? Get it first, then come back to this page and tap Open."
    elif settings.landing_app_link:
        hint = ""
    elif settings.landing_install_link:
        hint = (f"To join, open this link in {app}, or scan the code with it."
                f" Don&rsquo;t have {app} yet? Get it first.")
    else:
        hint = "To join, open this link in the app you use for this group, or scan the code."
    return template.substitute(
        static=STATIC_PREFIX,
        qr_library=library if with_qr_library else "",
        title=f"Join a group on {app}" if name else "Group invite",
        description=f"You're invited to join a group. Open the invite in {app} to join.",
        brand=app if name else "",
        app_name=html.escape(name or "", quote=True),
        app_name_or_the_app=app,
        app_name_or_the_app_cap=app if name else "The app",
        install_button=install,
        open_hint=hint,
        app_link=html.escape(settings.landing_app_link or "", quote=True),
        compact_path=html.escape(compact_path(path), quote=True),
    ).encode()


def add_landing_routes(app: web.Application, settings: Settings) -> None:
    """Register the landing page, its assets and the app-association files."""
    if settings.landing_path:
        library = qr_library(settings)
        page = render_page(settings, with_qr_library=library is not None)

        async def landing(_request: web.Request) -> web.Response:
            return web.Response(
                body=page, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
            )

        for path in dict.fromkeys((settings.landing_path, compact_path(settings.landing_path))):
            app.router.add_get(path, landing)
        for name, content_type in _ASSETS.items():
            app.router.add_get(f"{STATIC_PREFIX}/{name}", _asset(_static(name), content_type))
        if library is not None:
            app.router.add_get(
                f"{STATIC_PREFIX}/{QR_LIBRARY_ASSET}", _asset(library, "text/javascript")
            )
    for route, source in (
        ("/.well-known/apple-app-site-association", settings.apple_app_site_association),
        ("/.well-known/assetlinks.json", settings.assetlinks),
    ):
        if source is not None:
            app.router.add_get(route, _asset(Path(source).read_bytes(), "application/json"))


def _asset(body: bytes, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(_request: web.Request) -> web.Response:
        return web.Response(
            body=body,
            content_type=content_type,
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=300",
                     "Referrer-Policy": "no-referrer"},
        )

    return serve


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PAGE_HEADERS",
    "QR_LIBRARY_ASSET",
    "STATIC_PREFIX",
    "VENDORED_QR_LIBRARY",
    "add_landing_routes",
    "compact_path",
    "qr_library",
    "render_page",
]
