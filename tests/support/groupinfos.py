"""Fixture bytes and helpers shared by the client tests (no I/O beyond reading files)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from invitekit.blob import EncryptedBlob, seal
from invitekit.mls import parse_group_info
from invitekit.payload import InvitePayload
from invitekit.policy import ExternalCommitPolicy
from invitekit.protocol import SlotKind

ROOT = Path(__file__).resolve().parents[2] / "fixtures"
NOW = 1_800_000_000 * 10**9  # a fixed "now" (2027) for sans-IO tests


@cache
def rine(name: str) -> bytes:
    """A rine-mls GroupInfo fixture (``fixtures/rine/<name>.bin``)."""
    return (ROOT / "rine" / f"{name}.bin").read_bytes()


@cache
def policy_gi(variant: str) -> bytes:
    """A ts-mls GroupInfo whose AppData carries a policy variant (``fixtures/policy``)."""
    return (ROOT / "policy" / f"{variant}.bin").read_bytes()


@cache
def policy_meta() -> dict[str, str]:
    data = json.loads((ROOT / "policy-gen" / "entries.json").read_text())
    return {k: v for k, v in data.items() if isinstance(v, str)}


def fixture_key() -> bytes:
    return bytes.fromhex(policy_meta()["key_hex"])


def fixture_slot() -> bytes:
    return bytes.fromhex(policy_meta()["slot_hex"])


def seal_gi(
    group_info: bytes,
    key: bytes,
    *,
    expires_at_ns: int = 0,
    epoch: int | None = None,
    digest: bytes | None = None,
) -> EncryptedBlob:
    """Seal a GroupInfo; ``epoch``/``digest`` override the true metadata (forgery tests)."""
    view = parse_group_info(group_info)
    return seal(
        group_info,
        key,
        epoch=view.epoch if epoch is None else epoch,
        group_state_hash=view.digest if digest is None else digest,
        expires_at_ns=expires_at_ns,
    )


def enabled_policy(key: bytes, slot: bytes, **kw: object) -> ExternalCommitPolicy:
    return ExternalCommitPolicy(
        allow_external_commit=True,
        symmetric_key=key,
        external_group_id=slot,
        **kw,  # type: ignore[arg-type]
    )


def payload_for(policy: ExternalCommitPolicy) -> InvitePayload:
    assert policy.symmetric_key is not None
    return InvitePayload(policy.external_group_id, policy.symmetric_key)


@dataclass(frozen=True)
class FakeUpload:
    """What a driver reports for one upload, when a sans-IO test plays the driver."""

    service: str
    ok: bool = True
    retryable: bool = False
    kind: SlotKind = SlotKind.LANE
    outcome: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "ok": self.ok, "kind": str(self.kind)}
