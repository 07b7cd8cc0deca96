"""A real headless Chromium (Debian's ``chromium``) driven over the DevTools protocol.

No browser download and no driver package: the DevTools protocol is JSON over a WebSocket,
and aiohttp speaks WebSocket. Every request the page makes is recorded from
``Network.requestWillBeSent`` (URL, headers, body).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--disable-domain-reliability",
    "--disable-features=MediaRouter,OptimizationHints,Translate",
    "--ignore-certificate-errors",  # the test's own self-signed loopback certificate
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=900,1300",
)


def chromium_path() -> str:
    """The Debian chromium binary (`scripts/setup.sh test` installs it); a failure if absent."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("chromium is not installed: run scripts/setup.sh test")


@dataclass
class Page:
    """One tab, attached with a flat session."""

    browser: Browser
    session: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.browser.send(method, params, self.session)

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, attempts: int = 600) -> Any:
        """Poll ``expression`` until truthy (bounded by count, 50 ms apart)."""
        for _ in range(attempts):
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.05)
        raise RuntimeError(f"never became true: {expression}")

    async def emulate(self, width: int, height: int, *, mobile: bool, scale: float = 1) -> None:
        """A screen of ``width`` x ``height`` CSS pixels (a phone: ``mobile=True``)."""
        await self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile,
        })
        if mobile:
            await self.send("Emulation.setTouchEmulationEnabled", {"enabled": True})

    async def screenshot(self, path: Path, *, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        reply = await self.send("Page.captureScreenshot", params)
        data = base64.b64decode(reply["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data


class Browser:
    """A headless Chromium process with a fresh profile, and its DevTools connection."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._pages: dict[str, Page] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Browser:
        self.profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [chromium_path(), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        for _ in range(1200):  # bounded by count: chromium writes this once it listens
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("chromium exited during start-up")
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("chromium did not open its DevTools port")
        port, path = port_file.read_text().splitlines()[:2]
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(
            f"ws://127.0.0.1:{port}{path}", max_msg_size=64 << 20
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.requestWillBeSent":
                page = self._pages.get(data.get("sessionId", ""))
                if page is not None:
                    page.requests.append(data["params"]["request"])

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        assert self._ws is not None
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, timeout=120)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._pages[page.session] = page
        await page.send("Network.enable")
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        return page

    async def open(self, url: str, *, screen: tuple[int, int, bool] | None = None) -> Page:
        """A new tab at ``url``; ``screen`` = (width, height, mobile) emulates that screen."""
        page = await self.new_page()
        if screen is not None:
            width, height, mobile = screen
            await page.emulate(width, height, mobile=mobile, scale=3 if mobile else 1)
        await page.send("Page.navigate", {"url": url})
        await page.wait_for("document.readyState === 'complete'")
        return page


__all__ = ["Browser", "Page", "chromium_path"]
