"""Layer-B assembly: XIP-shaped commits and group states built on real ts-mls/rine bytes.

Everything starts from real fixtures (fixtures/commits/ts-mls): a real GroupInfo whose
signer key ts-mls exported, a real external commit whose joiner key ts-mls exported, real
KeyPackages. The assembler swaps proposals (real KeyPackages spliced in, a hand-built
AppDataUpdate) or the GroupContext's app_data_dictionary, re-encodes with invitekit's TLS
tables and re-signs with the real keys (Ed25519 is deterministic, so re-signing an untouched
structure reproduces the producer's exact signature — tests check that first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from invitekit.commit_pieces import Joiner, membership_update
from invitekit.mls.appdata import build_app_data_dictionary, decode_app_data_dictionary
from invitekit.mls.framing import (
    FRAMED_CONTENT_TBS_LABEL,
    PublicMessage,
    decode_public_message,
    encode_public_message,
    framed_content_tbs,
)
from invitekit.mls.groupinfo import GroupInfoView, parse_group_info
from invitekit.mls.proposals import (
    APP_DATA_OP_REMOVE,
    APP_DATA_OP_UPDATE,
    BY_REFERENCE,
    BY_VALUE,
    PROPOSAL_ADD,
    PROPOSAL_APP_DATA_UPDATE,
    AppDataUpdate,
    KeyPackage,
    Proposal,
    ProposalOrRef,
)
from invitekit.mls.schema import EXTENSION_APP_DATA_DICTIONARY
from invitekit.mls.suites import sign_content
from invitekit.mls.tls import decode_struct
from invitekit.policy import ExternalCommitPolicy, parse_policy_entry
from invitekit.xmtp_components import (
    EXTERNAL_COMMIT_POLICY,
    GROUP_MEMBERSHIP,
    MUTATION_INSERT,
    MembershipEntry,
    decode_membership,
    encode_delta,
    encode_membership,
)

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "commits"
TSMLS = ROOT / "ts-mls"
RINE = ROOT / "rine"
SHAPED = ROOT / "shaped"


def key(hex_seed: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(hex_seed))


@dataclass(frozen=True)
class Group:
    """A real ts-mls group: its GroupInfo, sidecar and the producers' fixture-only keys."""

    label: str
    group_info: bytes
    sidecar: dict[str, Any]

    @property
    def view(self) -> GroupInfoView:
        return parse_group_info(self.group_info)

    @property
    def signer(self) -> ed25519.Ed25519PrivateKey:
        return key(self.sidecar["fixture_only_signer_private_key_hex"][-64:])

    @property
    def joiner_key(self) -> ed25519.Ed25519PrivateKey:
        return key(self.sidecar["fixture_only_joiner_private_key_hex"][-64:])

    @property
    def joiner_inbox(self) -> bytes:
        return bytes.fromhex(self.sidecar["joiner_inbox_id_hex"])

    def file(self, name: str) -> bytes:
        return (TSMLS / f"{self.label}-{name}.bin").read_bytes()

    @property
    def policy(self) -> ExternalCommitPolicy:
        return parse_policy_entry(self.component(EXTERNAL_COMMIT_POLICY)).policy

    def component(self, component_id: int) -> bytes:
        app_data = self.view.app_data
        assert app_data is not None
        (data,) = [c.data for c in app_data.component_data if c.component_id == component_id]
        return data

    def membership(self) -> dict[bytes, bytes]:
        return decode_membership(self.component(GROUP_MEMBERSHIP))


@cache
def tsmls(label: str = "tsmls-small") -> Group:
    sidecar = json.loads((TSMLS / f"{label}.json").read_text())
    return Group(label, (TSMLS / f"{label}-group-info.bin").read_bytes(), sidecar)


# --- group state (layer B): a re-signed GroupInfo with another dictionary ---------------


def with_dictionary(group: Group, entries: dict[int, bytes | None]) -> bytes:
    """The group's GroupInfo with dictionary components replaced (None drops one),
    re-signed by the real GroupInfo signer."""
    view = group.view
    current = {
        c.component_id: c.data for c in (view.app_data.component_data if view.app_data else ())
    }
    for cid, data in entries.items():
        if data is None:
            current.pop(cid, None)
        else:
            current[cid] = data
    dictionary = build_app_data_dictionary(current).to_bytes()
    decode_app_data_dictionary(dictionary)  # sorted and well-formed
    context = view.context
    extensions = tuple(
        replace(e, extension_data=dictionary, raw=b"")
        if e.extension_type == EXTENSION_APP_DATA_DICTIONARY
        else e
        for e in context.extensions
    )
    context = replace(context, extensions=extensions, raw=b"")
    gi = replace(view.group_info, group_context=context, signature=b"", raw=b"")
    tbs = gi.to_bytes()[:-1]  # without the empty signature's 0x00 length
    signed = replace(gi, signature=group.signer.sign(sign_content("GroupInfoTBS", tbs)))
    return replace(view.message, group_info=signed, raw=b"").to_bytes()


def with_policy(group: Group, **changes: Any) -> bytes:
    """The group re-signed with its EXTERNAL_COMMIT_POLICY changed field by field."""
    policy = replace(group.policy, **changes)
    return with_dictionary(group, {EXTERNAL_COMMIT_POLICY: policy.to_entry_bytes()})


def revoked(group: Group) -> bytes:
    """The group re-signed with its invite revoked (every per-invite field cleared)."""
    return with_policy(
        group,
        allow_external_commit=False,
        symmetric_key=None,
        external_group_id=b"",
        expires_at_ns=0,
    )


def with_membership(group: Group, entries: dict[bytes, bytes], **policy: Any) -> bytes:
    data: dict[int, bytes | None] = {GROUP_MEMBERSHIP: encode_membership(entries)}
    if policy:
        data[EXTERNAL_COMMIT_POLICY] = replace(group.policy, **policy).to_entry_bytes()
    return with_dictionary(group, data)


# --- commits (layer B): proposals swapped, re-signed with the joiner's real key --------


def by_value(proposal: Proposal) -> ProposalOrRef:
    return ProposalOrRef(type=BY_VALUE, proposal=proposal)


def by_reference(ref: bytes) -> ProposalOrRef:
    return ProposalOrRef(type=BY_REFERENCE, reference=ref)


def key_package(mls_message: bytes) -> KeyPackage:
    """A KeyPackage from MLSMessage(mls_key_package) bytes (header: version, wire format 5)."""
    assert mls_message[:4] == b"\x00\x01\x00\x05"
    return decode_struct(KeyPackage, mls_message[4:])


def add(mls_message: bytes) -> ProposalOrRef:
    return by_value(Proposal(proposal_type=PROPOSAL_ADD, key_package=key_package(mls_message)))


def app_data_update(component_id: int, update: bytes | None) -> ProposalOrRef:
    op = APP_DATA_OP_REMOVE if update is None else APP_DATA_OP_UPDATE
    body = AppDataUpdate(component_id=component_id, op=op, update=update)
    return by_value(Proposal(proposal_type=PROPOSAL_APP_DATA_UPDATE, app_data_update=body))


#: The sequence id the fixtures' joiner entries carry.
JOINER_SEQUENCE_ID = 9


def joiner_entry(admitted_via: bytes, sequence_id: int = JOINER_SEQUENCE_ID) -> bytes:
    """Any membership entry value (tests also need untagged and malformed-tag ones, which
    invitekit's joiner API never builds)."""
    return MembershipEntry(sequence_id=sequence_id, admitted_via=admitted_via).to_bytes()


def self_insert(inbox: bytes, admitted_via: bytes) -> ProposalOrRef:
    """The joiner's own GROUP_MEMBERSHIP insert, as the XIP's atomic shape requires: built
    by invitekit (:mod:`invitekit.commit_pieces`, the rule's one owner). An empty tag is
    the untagged attack shape, which invitekit refuses to build; it is assembled here."""
    if not admitted_via:
        delta = encode_delta([(MUTATION_INSERT, inbox, joiner_entry(b""))])
        return app_data_update(GROUP_MEMBERSHIP, delta)
    return by_value(membership_update(Joiner(inbox, JOINER_SEQUENCE_ID), admitted_via))


def resign(
    message: PublicMessage,
    signer: ed25519.Ed25519PrivateKey,
    group_context: bytes,
    proposals: tuple[ProposalOrRef, ...] | None = None,
    **content_changes: Any,
) -> bytes:
    """``message`` with its proposals (and/or content fields) replaced, re-signed."""
    content = message.content
    commit = content.commit
    assert commit is not None
    if proposals is not None:
        commit = replace(commit, proposals=proposals, raw=b"")
    content = replace(content, commit=commit, raw=b"", **content_changes)
    tbs = framed_content_tbs(content, group_context)
    signature = signer.sign(sign_content(FRAMED_CONTENT_TBS_LABEL, tbs))
    return encode_public_message(replace(message, content=content, signature=signature, raw=b""))


def real_external(group: Group) -> PublicMessage:
    return decode_public_message(group.file("external-plain"))


def shaped(
    group: Group,
    *,
    group_info: bytes | None = None,
    extra: tuple[ProposalOrRef, ...] = (),
    admitted_via: bytes | None = None,
    proposals: tuple[ProposalOrRef, ...] | None = None,
) -> bytes:
    """The XIP's atomic shape on the group's real external commit: the real ExternalInit,
    then ``extra`` (e.g. Adds), then the joiner's own tagged insert; re-signed against
    ``group_info``'s GroupContext (default: the real one)."""
    message = real_external(group)
    assert message.content.commit is not None
    (init,) = message.content.commit.proposals
    if proposals is None:
        tag = group.policy.external_group_id if admitted_via is None else admitted_via
        proposals = (init, *extra, self_insert(group.joiner_inbox, tag))
    context = parse_group_info(group_info or group.group_info).group_context_bytes
    return resign(message, group.joiner_key, context, proposals)


def external_init(group: Group) -> ProposalOrRef:
    message = real_external(group)
    assert message.content.commit is not None
    return message.content.commit.proposals[0]
