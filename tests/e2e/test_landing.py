"""The invite landing page in a real headless Chromium (issue 11).

A real ``invitekit-service`` process serves the page; a recording TLS front on loopback
terminates https (the minted link is https) and keeps every byte the browser sent. The link
is minted by the CLI and opened exactly as printed. Asserted: the page renders the invite
(service host, slot fingerprint, the QR of the same link, decoded by a real QR decoder);
the fragment, the key and the slot id appear in no byte the browser sent, in no request
the browser made and in no service log line; the page's headers forbid any request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from typer.testing import CliRunner

from invitekit.cli import app as cli_app
from invitekit.cli.render import short_id
from invitekit.link import parse_invite_text
from invitekit.policy import enable
from tests.integration.client.tls import SelfSignedCert, make_cert
from tests.support.browser import Browser
from tests.support.processes import free_port
from tests.support.qrread import read_qr

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
APP_NAME = "Demo Chat"
INSTALL_LINK = "https://example.org/get-demo-chat"
# (width, height, mobile) in CSS pixels: a common phone, a common laptop.
SCREENS = {"phone": (390, 844, True), "desktop": (1280, 800, False)}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real service process with access logs on; yields (plain http root, log file)."""
    port = free_port()
    log = tmp_path / "service.log"
    aasa = tmp_path / "aasa.json"
    aasa.write_text(json.dumps({"applinks": {"details": [{"appIDs": ["TEAM.org.example"],
                                                         "components": [{"/": "/i"}]}]}}))
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "invitekit_service", "--host", "127.0.0.1", "--port", str(port),
             "--database", f"sqlite:///{tmp_path / 'db.sqlite3'}", "--access-log",
             "--log-level", "DEBUG", "--landing-app-link", "invitekit-demo://join",
             "--landing-app-name", APP_NAME, "--landing-install-link", INSTALL_LINK,
             "--apple-app-site-association", str(aasa)],
            stdout=sink, stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(400):  # bounded by count
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError(log.read_text()) from None
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", log
        finally:
            proc.terminate()
            proc.wait(timeout=20)


class RecordingTlsFront:
    """https on loopback in front of the plain-http service; records what clients send."""

    def __init__(self, upstream_port: int, cert: SelfSignedCert) -> None:
        self.upstream_port = upstream_port
        self.cert = cert
        self.received = bytearray()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RecordingTlsFront:
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.cert.server_context()
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 10)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    if record:
                        self.received.extend(data)
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


@pytest.fixture
async def front(
    service: tuple[str, Path], tmp_path: Path
) -> AsyncIterator[RecordingTlsFront]:
    port = int(service[0].rsplit(":", 1)[1])
    async with RecordingTlsFront(port, make_cert(tmp_path)) as f:
        yield f


def mint(tmp_path: Path, link_base: str, *extra: str) -> str:
    pol = tmp_path / "policy.bin"
    pol.write_bytes(enable(expire_in_ns=3600 * 10**9).to_entry_bytes())
    result = CliRunner().invoke(
        cli_app, ["mint", "-p", str(pol), "-s", "https://blobs.example.org/v1",
                  "--link-base", link_base, "--json", *extra]
    )
    assert result.exit_code == 0, result.stderr
    return str(json.loads(result.stdout)["link"])


def secrets_of(link: str) -> list[bytes]:
    """Every spelling of the invite's secret material a leak could take."""
    fragment = link.split("#", 1)[1]
    invite = parse_invite_text(link)
    key, slot = invite.symmetric_key, invite.external_group_id
    spellings = [fragment, fragment[:24], key.hex(), slot.hex(),
                 base64.urlsafe_b64encode(key).decode().rstrip("="),
                 base64.urlsafe_b64encode(slot).decode().rstrip("=")]
    return [s.encode() for s in spellings] + [key, slot]


def decode_qr(png: bytes) -> list[str]:
    return read_qr(png)


async def render(
    link: str, tmp_path: Path, shot: str
) -> tuple[dict[str, str], list[dict[str, str]], bytes]:
    async with Browser(tmp_path / f"profile-{shot}") as browser:
        page = await browser.open(link)
        state = await page.wait_for(
            "document.body.dataset.state !== 'loading' && document.body.dataset.state"
        )
        status = await page.evaluate("document.getElementById('status').textContent")
        assert state == "ready", status
        view = await page.evaluate(
            "({service: document.getElementById('service').textContent,"
            " fingerprint: document.getElementById('fingerprint').textContent,"
            " link: document.getElementById('link').value,"
            " openApp: document.getElementById('open-app').href,"
            " openAppHidden: document.getElementById('open-app').hidden,"
            " referrer: document.referrer})"
        )
        png = await page.screenshot(ARTIFACTS / f"{shot}.png")
        await asyncio.sleep(0.5)  # let any (forbidden) late request show up in the record
        return view, list(page.requests), png


@pytest.mark.slow
async def test_landing_page_renders_a_minted_link_and_leaks_nothing(
    service: tuple[str, Path], front: RecordingTlsFront, tmp_path: Path
) -> None:
    link = mint(tmp_path, f"https://127.0.0.1:{front.port}/i")
    invite = parse_invite_text(link)
    view, requests, png = await render(link, tmp_path, "landing")

    assert view["service"] == "blobs.example.org"
    assert view["fingerprint"] == short_id(invite.external_group_id)
    assert view["link"] == link
    assert view["openAppHidden"] is False
    assert view["openApp"] == "invitekit-demo://join#" + link.split("#", 1)[1]
    assert decode_qr(png) == [link]  # the page's own QR, read by a real decoder

    # Requests: the page and its three assets, nothing else, none carrying the invite.
    paths = sorted(r["url"].split(f":{front.port}", 1)[1] for r in requests)
    assert paths == [
        "/_landing/landing.css", "/_landing/landing.js", "/_landing/qr.js",
        "/_landing/qrcode.js", "/i",
    ]
    secrets = secrets_of(link)
    for request in requests:
        sent = (request["url"] + json.dumps(request.get("headers", {}))
                + request.get("postData", "")).encode()
        assert not any(s in sent for s in secrets), request["url"]
        referer = {k.lower(): v for k, v in request.get("headers", {}).items()}.get("referer")
        assert not referer, referer  # no-referrer: Chromium reports an empty one
    # The bytes on the wire (decrypted by the front) and the service's log lines.
    assert b"GET /i HTTP/1.1" in front.received
    assert b"referer:" not in bytes(front.received).lower()
    assert not any(s in bytes(front.received) for s in secrets)
    log = service[1].read_bytes()
    assert b'"route": "/i"' in log or b'"route":"/i"' in log
    assert not any(s in log for s in secrets)


@pytest.mark.slow
async def test_compact_link_opens_the_upper_case_path(
    service: tuple[str, Path], front: RecordingTlsFront, tmp_path: Path
) -> None:
    link = mint(tmp_path, f"https://127.0.0.1:{front.port}/I", "--compact")
    assert link.startswith(f"HTTPS://127.0.0.1:{front.port}/I#")
    view, requests, png = await render(link, tmp_path, "landing-compact")
    assert view["fingerprint"] == short_id(parse_invite_text(link).external_group_id)
    assert view["link"] == link
    assert decode_qr(png) == [link]
    assert not any(s in bytes(front.received) for s in secrets_of(link))
    assert len(requests) == 5


async def test_page_headers_forbid_requests_referrers_and_framing(
    service: tuple[str, Path],
) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/i", "/I"):
            async with session.get(service[0] + path) as resp:
                assert resp.status == 200
                csp = resp.headers["Content-Security-Policy"]
                assert "connect-src 'none'" in csp
                assert "default-src 'none'" in csp
                assert "frame-ancestors 'none'" in csp
                assert "'unsafe-inline'" not in csp
                assert resp.headers["Referrer-Policy"] == "no-referrer"
                body = await resp.text()
                assert "<script>" not in body  # no inline script: script-src 'self' only
                assert 'data-app-link="invitekit-demo://join"' in body
                assert f'href="{INSTALL_LINK}"' in body
                # a chat app's link preview names the app (the same for every invite)
                assert f'<meta property="og:title" content="Join a group on {APP_NAME}">' in body
        async with session.get(service[0] + "/.well-known/apple-app-site-association") as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            assert (await resp.json())["applinks"]["details"][0]["appIDs"] == ["TEAM.org.example"]
        async with session.get(service[0] + "/.well-known/assetlinks.json") as resp:
            assert resp.status == 404  # not configured: not served


def test_landing_page_can_be_turned_off() -> None:
    from invitekit_service.config import Settings

    assert Settings(landing_path="none").landing_path is None
    with pytest.raises(ValueError, match="landing path"):
        Settings(landing_path="/v1/x")


def test_chromium_is_installed() -> None:
    """A missing browser is a failure, never a skip (`scripts/setup.sh test` installs it)."""
    from tests.support.browser import chromium_path

    assert os.access(chromium_path(), os.X_OK)





@pytest.mark.slow
async def test_the_pages_qr_encoder_round_trips_every_version(
    service: tuple[str, Path], tmp_path: Path
) -> None:
    """static/qr.js over qrcode-generator, run in Chromium, read back by a real decoder:
    the smallest version at level M for each size (1-10 at their capacity limits), and no
    symbol past version 40's capacity (2,331 bytes at M)."""
    async with Browser(tmp_path / "profile-qr") as browser:
        page = await browser.open(service[0] + "/i")
        await page.wait_for("typeof InviteQr === 'object'")
        lengths = [1, 14, 26, 42, 62, 84, 106, 122, 152, 180, 213]
        versions = set()
        for n in lengths:
            text = "".join(chr(33 + (i * 7 + n) % 94) for i in range(n))
            matrix = await page.evaluate(f"InviteQr.encode({json.dumps(text)})")
            assert matrix is not None, n
            size = len(matrix)
            versions.add((size - 17) // 4)
            img = Image.new("L", (size + 8, size + 8), 255)
            for y, row in enumerate(matrix):
                for x, dark in enumerate(row):
                    if dark:
                        img.putpixel((x + 4, y + 4), 0)
            img = img.resize(((size + 8) * 6, (size + 8) * 6), Image.NEAREST)
            assert read_qr(img) == [text], n
        assert versions == set(range(1, 11))
        assert await page.evaluate(f"InviteQr.encode({json.dumps('x' * 214)}).length") == 61
        assert await page.evaluate(f"InviteQr.encode({json.dumps('x' * 2332)})") is None


def test_qr_library_ships_in_the_package_and_a_configured_one_must_exist() -> None:
    """The page's QR symbols come from the copy of qrcode-generator shipped in the package
    (tests/e2e/test_packaging.py keeps it equal to package-lock's npm package and serves it from
    an installed wheel); a configured file that is missing is a start-up error, not a
    silent page without QR."""
    from invitekit_service.config import Settings
    from invitekit_service.landing import qr_library, render_page

    shipped = Path(__file__).resolve().parents[2] / (
        "service/invitekit_service/static/vendor/qrcode-generator/qrcode.js")
    assert qr_library(Settings()) == shipped.read_bytes()
    assert b"/_landing/qrcode.js" in render_page(Settings(), with_qr_library=True)
    assert b"/_landing/qrcode.js" not in render_page(Settings(), with_qr_library=False)
    with pytest.raises(OSError):
        qr_library(Settings(landing_qr_library=Path("/nonexistent/qrcode.js")))


# What a person sees: every visible word, and every word drawn on more than one line.
LAYOUT = """(() => {
  const words = [], broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest("script, style, noscript, [hidden]")) continue;
    const re = /\\S+/g;
    let m;
    while ((m = re.exec(n.data))) {
      const range = document.createRange();
      range.setStart(n, m.index);
      range.setEnd(n, m.index + m[0].length);
      const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
      if (!rects.length) continue;  // not rendered
      words.push(m[0]);
      if (rects.some((r) => r.top >= rects[0].bottom - 1)) broken.push(m[0]);
    }
  }
  const box = (id) => {
    const r = document.getElementById(id).getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height};
  };
  return {
    title: document.title, text: words.join(" "), broken,
    width: innerWidth, height: innerHeight,
    scrollWidth: document.documentElement.scrollWidth,
    openApp: box("open-app"), getApp: box("get-app"), qr: box("qr"), copy: box("copy"),
    getAppHref: document.getElementById("get-app").href,
  };
})()"""


@pytest.mark.slow
@pytest.mark.parametrize("screen", sorted(SCREENS))
async def test_landing_page_reads_like_a_product_on_each_screen(
    service: tuple[str, Path], front: RecordingTlsFront, tmp_path: Path, screen: str
) -> None:
    """The app's name and links, plain words, no word broken across lines and nothing wider
    than the screen, on a phone and on a laptop; the way to join is on the first screen (on a
    laptop, the QR code for the phone too), and the QR code still reads back as the link."""
    link = mint(tmp_path, f"https://127.0.0.1:{front.port}/i")
    async with Browser(tmp_path / f"profile-{screen}") as browser:
        page = await browser.open(link, screen=SCREENS[screen])
        state = await page.wait_for(
            "document.body.dataset.state !== 'loading' && document.body.dataset.state"
        )
        assert state == "ready"
        await page.evaluate("document.querySelector('details').open = true")
        layout = await page.evaluate(LAYOUT)
        png = await page.screenshot(ARTIFACTS / f"landing-{screen}.png", full_page=True)

    text = layout["text"]
    assert layout["title"] == f"Join a group on {APP_NAME}"
    for words in (f"Open in {APP_NAME}", f"Get {APP_NAME}", "Invite ID", "Hosted by",
                  "blobs.example.org", "Copy link"):
        assert words in text, words
    assert layout["getAppHref"] == INSTALL_LINK
    for jargon in ("fingerprint", "slot", "pointer", "fragment", "capability", "blob"):
        assert jargon not in text.replace("blobs.example.org", "").lower(), jargon
    assert layout["broken"] == [], layout["broken"]
    assert layout["scrollWidth"] <= layout["width"]  # nothing wider than the screen
    for name in ("openApp", "getApp", "copy", "qr"):
        assert layout[name]["left"] >= 0, name
        assert layout[name]["right"] <= layout["width"], name
    assert layout["openApp"]["bottom"] <= layout["height"]  # on the first screen
    assert layout["openApp"]["height"] >= 44  # a finger-sized target
    if screen == "desktop":
        assert layout["qr"]["bottom"] <= layout["height"]  # scan it without scrolling
    assert decode_qr(png) == [link]


def test_landing_page_words_without_an_app_configured() -> None:
    from invitekit_service.config import Settings
    from invitekit_service.landing import render_page

    page = render_page(Settings(), with_qr_library=True).decode()
    assert "<title>Group invite</title>" in page
    assert "Open in the app" in page
    assert 'id="get-app"' not in page
    assert "Slot fingerprint" not in page
    named = render_page(Settings(landing_app_name="Demo <Chat>",
                                 landing_install_link=INSTALL_LINK),
                        with_qr_library=True).decode()
    assert "Get Demo &lt;Chat&gt;" in named  # escaped
    with pytest.raises(ValueError, match="install link"):
        Settings(landing_install_link="javascript:alert(1)")
    assert Settings(landing_app_name="none").landing_app_name is None
