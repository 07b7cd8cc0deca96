"""The joiner's own piece of XIP-82's atomic external commit (join step 7).

The XIP's external commit carries, beside the ``ExternalInit`` and the joiner's by-value
``Add``s, exactly one ``AppDataUpdate`` proposal: the insert of the joiner's **own**
``GROUP_MEMBERSHIP`` entry, tagged with the ``external_group_id`` it joins under (this is
what ``max_uses`` counts, and what member check 10 compares against the active slot id).
This module is the one place that rule is written down; the validator's checks 5 and 10
read what it writes.

Wire form (what openmls and libxmtp put in a commit's proposal list), with no outer
length::

    uint16 proposal_type = 0x0008 (app_data_update)
    uint16 component_id  = 0x8003 (GROUP_MEMBERSHIP)
    uint8  op            = 1 (update)
    opaque update<V>     = TlsMapDelta{ [insert, InboxId(joiner), GroupMembershipEntry] }

with ``GroupMembershipEntry{v1 = 1: V1{sequence_id = 1, admitted_via_external_group_id =
3}}`` (xmtp/proto pull request 336, ``group_membership.proto``). ``sequence_id`` is the
joiner inbox's identity-update sequence id, as in every other membership entry. Pure and
sans-IO.
"""

from __future__ import annotations

from dataclasses import dataclass

from .expiry import check_u64
from .mls.proposals import (
    APP_DATA_OP_UPDATE,
    PROPOSAL_APP_DATA_UPDATE,
    AppDataUpdate,
    Proposal,
)
from .payload import InvitePayload, validate_external_group_id
from .xmtp_components import (
    GROUP_MEMBERSHIP,
    MUTATION_INSERT,
    MembershipEntry,
    encode_delta,
    inbox_key,
)


@dataclass(frozen=True, slots=True)
class Joiner:
    """Who is joining: the inbox id (32 bytes) and its identity-update sequence id."""

    inbox_id: bytes
    sequence_id: int

    def __post_init__(self) -> None:
        inbox_key(self.inbox_id)  # 32 bytes, else ComponentError
        check_u64(self.sequence_id, "sequence_id")


def joiner_entry(sequence_id: int, external_group_id: bytes) -> MembershipEntry:
    """The joiner's ``GroupMembershipEntry``: its sequence id, tagged with the slot id."""
    check_u64(sequence_id, "sequence_id")
    validate_external_group_id(external_group_id)
    return MembershipEntry(sequence_id=sequence_id, admitted_via=bytes(external_group_id))


def membership_update(joiner: Joiner, external_group_id: bytes) -> Proposal:
    """The ``AppDataUpdate(GROUP_MEMBERSHIP)`` proposal inserting the joiner's own entry."""
    entry = joiner_entry(joiner.sequence_id, external_group_id).to_bytes()
    delta = encode_delta([(MUTATION_INSERT, joiner.inbox_id, entry)])
    return Proposal(
        proposal_type=PROPOSAL_APP_DATA_UPDATE,
        app_data_update=AppDataUpdate(
            component_id=GROUP_MEMBERSHIP, op=APP_DATA_OP_UPDATE, update=delta
        ),
    )


def membership_update_bytes(inbox_id: bytes, sequence_id: int, external_group_id: bytes) -> bytes:
    """The proposal's wire bytes (``uint16 0x0008 ‖ uint16 0x8003 ‖ uint8 1 ‖ opaque<V>``).

    Raises :class:`~invitekit.xmtp_components.ComponentError` for an inbox id that is not
    32 bytes, :class:`~invitekit.errors.ValueOutOfRange` for a sequence id outside uint64
    and :class:`~invitekit.errors.InvalidExternalGroupId` for a slot id under 4 bytes.
    """
    return membership_update(Joiner(inbox_id, sequence_id), external_group_id).to_bytes()


def joiner_membership_update(inbox_id: bytes, sequence_id: int, invite: InvitePayload) -> bytes:
    """The ``AppDataUpdate`` proposal a joiner adds to its external commit for ``invite``:
    its own ``GROUP_MEMBERSHIP`` entry, tagged with the invite's ``external_group_id``."""
    return membership_update_bytes(inbox_id, sequence_id, invite.external_group_id)


__all__ = [
    "Joiner",
    "joiner_entry",
    "joiner_membership_update",
    "membership_update",
    "membership_update_bytes",
]
