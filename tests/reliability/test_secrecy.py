"""Secrecy: the whole invite lifecycle (enable, seal, upload, mint, fetch, join-check, refresh
in all three roles) through the real CLI against a real service at DEBUG logging, then a
batch of hostile requests that carry the secrets (a copied signature on other bytes, the
key as a body, the payload as a header, malformed requests the HTTP parser itself rejects).
No log line (service and client), metric label or error body may contain the invite key,
the payload, the ciphertext, the GroupInfo, a lane signature, the slot id or the lane id —
raw, hex (either case), base64url or standard base64, whole or any 12-character window.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import socket
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

from invitekit.blob import parse_blob
from invitekit.cli import app
from invitekit.lane import LaneSigner
from invitekit.link import payload_bytes_from_link
from invitekit.policy import decode_policy_entry
from invitekit.protocol import b64url

from .harness import REPO

LOOP = "--allow-insecure-loopback"
WINDOW = 12
GROUP_INFO = REPO / "fixtures" / "rine" / "rine-classic-epochs-e3.bin"


def encodings(secret: bytes) -> list[str]:
    """Every text form a leak could take."""
    return [
        secret.hex(),
        secret.hex().upper(),
        b64url(secret),
        base64.b64encode(secret).decode().rstrip("="),
        secret.decode("latin-1"),
        repr(secret)[2:-1],  # how Python (and aiohttp's parser errors) print bytes
    ]


def leaks(text: str, secrets: dict[str, bytes]) -> list[str]:
    """Names of the secrets some window of which appears in ``text``."""
    found = []
    for name, secret in secrets.items():
        for form in encodings(secret):
            step = max(1, WINDOW // 2)
            windows = {form[i : i + WINDOW] for i in range(0, max(1, len(form) - WINDOW + 1), step)}
            if any(w and w in text for w in windows):
                found.append(name)
                break
    return found


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes on a fresh loopback connection; read until the server closes it (the
    read gives up after a few quiet seconds: a server may wait for more bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def malformed_requests(slot_path: str, secrets: dict[str, bytes]) -> list[bytes]:
    """Requests aiohttp's own parser refuses, each carrying secret bytes."""
    sig = b64url(secrets["signature"]).encode()
    blob = secrets["ciphertext"]
    host = b"Host: 127.0.0.1\r\n"
    path = slot_path.encode()
    return [
        # a control character inside a header value next to a real signature
        b"POST " + path + b"/blobs HTTP/1.1\r\n" + host + b"Invitekit-Signature: " + sig
        + b"\x01\r\nContent-Length: 0\r\n\r\n",
        # a space inside the request target
        b"GET " + path + b" x/head HTTP/1.1\r\n" + host + b"\r\n",
        # a header name with raw secret bytes
        b"GET " + path + b"/head HTTP/1.1\r\n" + host + secrets["key"] + b": x\r\n\r\n",
        # a broken chunk size followed by ciphertext
        b"POST " + path + b"/blobs HTTP/1.1\r\n" + host
        + b"Transfer-Encoding: chunked\r\n\r\nzz" + blob.hex().encode() + b"\r\n" + blob
        + b"\r\n0\r\n\r\n",
        # a bad Content-Length with the payload behind it
        b"POST " + path + b"/blobs HTTP/1.1\r\n" + host + b"Content-Length: 1x\r\n\r\n"
        + secrets["payload"],
        # a request line that is only secret bytes
        secrets["slot"] + b" " + sig + b" HTTP/1.1\r\n\r\n",
        # a bad HTTP version with the slot id in the target
        b"GET " + path + b"/head HTTP/9.9\r\n" + host + b"\r\n",
    ]


async def hostile_requests(base: str, lane_path: str, open_path: str,
                           secrets: dict[str, bytes]) -> list[tuple[int, str]]:
    sig = b64url(secrets["signature"])
    body = secrets["blob"]
    answers: list[tuple[int, str]] = []
    async with aiohttp.ClientSession() as http:
        calls = [
            ("POST", lane_path + "/blobs", body + b"x", {"Invitekit-Signature": sig}),
            ("POST", lane_path + "/blobs", secrets["key"], {"Invitekit-Signature": sig}),
            ("POST", lane_path + "/blobs", body, {"Invitekit-Signature": sig + "A"}),
            ("POST", lane_path + "/blobs", body, {}),
            ("POST", open_path + "/blobs", secrets["payload"], {}),
            ("POST", open_path + "/blobs", secrets["group_info"][:4000], {}),
            ("PUT", open_path + "/blobs/" + "0" * 64, body, {}),
            ("GET", open_path + "/blobs", None, {"If-None-Match": secrets["key"].hex()}),
            ("GET", open_path + "/presence", None, {}),
            ("GET", open_path + "/blobs?epoch=" + b64url(secrets["key"]), None, {}),
            ("GET", f"/v1/slots/{b64url(secrets['slot'])}=/open/head", None, {}),
            ("GET", f"/v1/slots/{secrets['slot'].hex()}/lanes/{b64url(secrets['key'])}/head",
             None, {}),
            ("DELETE", lane_path + "/blobs", None, {}),
        ]
        for method, path, data, headers in calls:
            async with http.request(method, base + path, data=data, headers=headers) as r:
                text = (await r.read()).decode("latin-1")
                answers.append((r.status, text + "\n" + "\n".join(
                    f"{k}: {v}" for k, v in r.headers.items())))
    return answers


@pytest.fixture
def client_log() -> list[str]:
    """Every log record the client side (library, CLI, aiohttp) emits, at DEBUG."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(old)


async def test_no_secret_in_logs_metrics_or_error_bodies(
    make_service, tmp_path: Path, client_log: list[str]
) -> None:
    svc = make_service("--log-level", "DEBUG", "--access-log", "--no-rate-limits-enabled")
    root = svc.base_url + "/v1"
    pol, blob_file = tmp_path / "policy.bin", tmp_path / "blob.bin"
    qr, nfc = tmp_path / "invite.png", tmp_path / "invite.ndef"

    async def ok(*args: str) -> str:
        # the CLI runs its own event loop: give it a thread
        code, out, err = await asyncio.to_thread(cli, *args)
        assert code == 0, (args, out, err)
        return out

    await ok("policy", "enable", "--expire-in", "1h", "-o", str(pol))
    await ok("seal", str(GROUP_INFO), "-p", str(pol), "--epoch-start-ns", "now",
             "-o", str(blob_file))
    await ok("upload", "-s", root, "--blob", str(blob_file), "-p", str(pol), "-k", "lane",
             "-k", "open", LOOP)
    await ok("mint", "-p", str(pol), "-s", root, LOOP, "--link-base", "https://example.org/i",
             "--qr", str(qr), "--nfc", str(nfc))
    minted = await ok("mint", "-p", str(pol), "-s", root, LOOP, "--link-base",
                      "https://example.org/i", "--json")
    link = json.loads(minted)["link"]
    await ok("fetch", link, "-s", root, LOOP, "--json")
    # rine-mls GroupInfos carry no policy: the app's copy is given with -p (as the README)
    await ok("join-check", link, "-p", str(pol), LOOP, "--json")
    for role in ("committer", "backstop", "deep"):
        await ok("refresh", "-g", str(GROUP_INFO), "-p", str(pol), "--epoch-start-ns", "now",
                 "--role", role, "-s", root, LOOP)

    policy = decode_policy_entry(pol.read_bytes())
    assert policy.symmetric_key is not None
    assert policy.external_group_id is not None
    key, slot = policy.symmetric_key, policy.external_group_id
    blob = blob_file.read_bytes()
    signer = LaneSigner(key)
    secrets = {
        "key": key,
        "slot": slot,
        "lane": signer.lane_id,
        "payload": payload_bytes_from_link(link),
        "blob": blob,
        "ciphertext": parse_blob(blob).blob.ciphertext,
        "group_info": GROUP_INFO.read_bytes(),
        "signature": signer.sign(slot, blob),
        "lane_seed_signature": signer.sign(slot, b"other"),
    }
    lane_path = f"/v1/slots/{b64url(slot)}/lanes/{b64url(signer.lane_id)}"
    open_path = f"/v1/slots/{b64url(slot)}/open"

    answers = await hostile_requests(svc.base_url, lane_path, open_path, secrets)
    assert all(status < 500 for status, _ in answers), [s for s, _ in answers]
    raw_answers = [
        await asyncio.to_thread(raw_exchange, svc.proc.port, req)
        for req in malformed_requests(open_path, secrets)
    ]
    async with aiohttp.ClientSession() as http:
        async with http.get(svc.base_url + "/metrics") as r:
            metrics = await r.text()
        async with http.get(svc.base_url + "/healthz") as r:
            assert r.status == 200  # the service survived all of it
    svc.stop()
    service_log = svc.log_text()

    findings: list[str] = []
    for i, (status, text) in enumerate(answers):
        if status < 400:
            continue  # a listing legitimately carries the slot id and the blob
        findings += [f"error body {i} ({status}): {n}" for n in leaks(text, secrets)]
    for i, raw in enumerate(raw_answers):
        findings += [f"raw answer {i}: {n}" for n in leaks(raw.decode("latin-1"), secrets)]
        head = raw.split(b"\r\n", 1)[0]
        if b" 4" in head or b" 5" in head:
            assert b"application/problem+json" in raw, (i, raw[:300])
    findings += [f"metrics: {n}" for n in leaks(metrics, secrets)]
    lines = service_log.splitlines()
    findings += [f"service log: {n}" for line in lines for n in leaks(line, secrets)]
    findings += [f"client log: {n}" for line in client_log for n in leaks(line, secrets)]
    non_json = [line for line in lines if line.strip() and not line.lstrip().startswith("{")]
    assert findings == [], findings
    assert non_json == [], non_json[:5]
    assert any('"level":"debug"' in line for line in lines) or len(lines) > 10
    # the run was real: the access log saw the lifecycle
    assert sum('"msg":"request"' in line for line in lines) >= 20


def test_the_leak_detector_finds_each_form() -> None:
    secret = hashlib.sha256(b"s").digest()
    for form in encodings(secret):
        assert leaks("xx" + form[3:20] + "yy", {"s": secret}) == ["s"], form
    assert leaks("nothing here", {"s": secret}) == []
