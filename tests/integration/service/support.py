"""Helpers for the blob-service tests: real sealed blobs, real server processes, and an HTTP
client that checks every response against spec/openapi.yaml (openapi-core)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from multidict import CIMultiDict
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters

from invitekit.blob import seal
from invitekit.lane import LaneSigner
from invitekit.protocol import b64url, parse_b64url
from tests.support.processes import free_port

REPO = Path(__file__).resolve().parents[3]
OPENAPI_PATH = REPO / "spec" / "openapi.yaml"
U64_MAX = (1 << 64) - 1


def b64(data: bytes) -> str:
    return b64url(data)


def unb64(text: str) -> bytes:
    raw = parse_b64url(text)
    assert raw is not None, "the service sent non-canonical base64url"
    return raw


def digest_for(label: str | int) -> bytes:
    return hashlib.sha256(str(label).encode()).digest()


@dataclass
class Invite:
    """A test invite: symmetric key, slot id, and the lane signer derived from the key."""

    key: bytes = field(default_factory=lambda: os.urandom(32))
    slot: bytes = field(default_factory=lambda: os.urandom(16))

    def __post_init__(self) -> None:
        self.signer = LaneSigner(self.key)

    @property
    def lane_path(self) -> str:
        return f"/v1/slots/{b64(self.slot)}/lanes/{b64(self.signer.lane_id)}"

    @property
    def open_path(self) -> str:
        return f"/v1/slots/{b64(self.slot)}/open"

    def blob(
        self,
        epoch: int,
        state: str | int | None = None,
        *,
        expires_at_ns: int = 0,
        plaintext: bytes = b"",
        key: bytes | None = None,
    ) -> bytes:
        """A real ChaCha20-Poly1305 blob at ``epoch`` for group state ``state``."""
        sealed = seal(
            plaintext or (b"group-info-" + str(epoch).encode()) * 8,
            key or self.key,
            epoch=epoch,
            group_state_hash=digest_for(epoch if state is None else state),
            expires_at_ns=expires_at_ns,
        )
        return sealed.to_bytes()

    def sign(self, body: bytes) -> dict[str, str]:
        return {"Invitekit-Signature": b64(self.signer.sign(self.slot, body))}


@cache
def openapi() -> OpenAPI:
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(yaml.safe_load(OPENAPI_PATH.read_text()), config=config)


@dataclass
class _Req:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


@dataclass
class _Resp:
    status_code: int
    content_type: str
    headers: CIMultiDict[str]
    data: bytes | None


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    @property
    def problem_type(self) -> str:
        assert self.content_type == "application/problem+json", (self.status, self.body[:200])
        return str(self.json["type"]).removeprefix("urn:invitekit:problem:")


def check_against_openapi(
    base_url: str, method: str, path: str, params: dict[str, str], reply: Reply
) -> None:
    """Raise if ``reply`` is not a response the OpenAPI document allows for this request."""
    request = _Req(
        host_url=base_url,
        path=path,
        method=method.lower(),
        parameters=RequestParameters(query=params, header={}, cookie={}),
        content_type="application/octet-stream",
        body=None,
    )
    response = _Resp(
        status_code=reply.status,
        content_type=reply.headers.get("Content-Type", "").lower(),
        headers=reply.headers,
        data=reply.body,
    )
    openapi().validate_response(request, response)


class Api:
    """aiohttp client bound to one server; validates every reply against the OpenAPI doc."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, validate: bool = True):
        self.base_url = base_url
        self.session = session
        self.validate = validate

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        validate: bool = True,
    ) -> Reply:
        async with self.session.request(
            method, self.base_url + path, data=body, headers=headers, params=params
        ) as resp:
            data = await resp.read()
            reply = Reply(resp.status, CIMultiDict(resp.headers), data)
        if (
            validate
            and self.validate
            and path.startswith(("/v1/", "/healthz", "/readyz", "/openapi"))
        ):
            check_against_openapi(self.base_url, method, path, params or {}, reply)
        return reply

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: bytes, **kw: Any) -> Reply:
        return await self.call("POST", path, body=body, **kw)

    async def upload_lane(self, invite: Invite, body: bytes) -> Reply:
        return await self.post(invite.lane_path + "/blobs", body, headers=invite.sign(body))

    async def upload_open(self, invite: Invite, body: bytes) -> Reply:
        return await self.post(invite.open_path + "/blobs", body)


def service_command() -> list[str]:
    script = Path(sys.executable).parent / "invitekit-service"
    return [str(script)] if script.exists() else [sys.executable, "-m", "invitekit_service"]


@dataclass
class ServiceProcess:
    """A real ``invitekit-service`` process on 127.0.0.1 with its own database file."""

    database_url: str
    workdir: Path
    extra: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    prefix: list[str] = field(default_factory=list)  # e.g. ["prlimit", "--nofile=512:512"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, *, ready: bool = True) -> ServiceProcess:
        """Start the process; return once ``/readyz`` (or, with ``ready=False``, ``/healthz``)
        answers 200."""
        if not self.port:
            self.port = free_port()
        self.log_path = self.workdir / f"service-{self.port}-{time.monotonic_ns()}.log"
        cmd = [
            *self.prefix,
            *service_command(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database",
            self.database_url,
            *self.extra,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEKIT_SERVICE_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited early:\n{self.log_path.read_text()}")
            try:
                probe = "/readyz" if ready else "/healthz"
                with urllib.request.urlopen(self.base_url + probe, timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("service did not become ready")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""
