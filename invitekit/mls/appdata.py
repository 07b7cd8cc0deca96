"""The ``app_data_dictionary`` GroupContext extension and XIP-82's pre-commit policy check.

Wire layout (draft-ietf-mls-extensions §4.6 "Attaching Application Data to MLS Messages";
OpenMLS ``AppDataDictionary``): extension type 0x0006 whose data is
``struct { ComponentData component_data<V>; }`` with
``ComponentData { uint16 component_id; opaque data<V>; }``; entries strictly increasing by
``component_id`` (sorted, at most one per id). ``EXTERNAL_COMMIT_POLICY`` is component
0x800C; its ``data`` is an ``ExternalCommitPolicyEntry`` protobuf, parsed by
:mod:`invitekit.policy`.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from ..payload import InvitePayload
from ..policy import ExternalCommitPolicy, ParsedPolicy, parse_policy_entry
from .errors import InvalidAppData, MlsDecodeError
from .schema import AppDataDictionary, ComponentData
from .tls import decode_struct

#: AppData ComponentID of EXTERNAL_COMMIT_POLICY (XIP-82).
EXTERNAL_COMMIT_POLICY_COMPONENT = 0x800C


def decode_app_data_dictionary(data: bytes) -> AppDataDictionary:
    """Decode extension data as an AppDataDictionary; ids must strictly increase."""
    try:
        value = decode_struct(AppDataDictionary, data)
    except MlsDecodeError as exc:
        raise InvalidAppData(f"app_data_dictionary does not decode: {exc}") from None
    previous = -1
    for entry in value.component_data:
        if entry.component_id <= previous:
            raise InvalidAppData(
                "app_data_dictionary entries not strictly sorted at component "
                f"{entry.component_id:#06x}"
            )
        previous = entry.component_id
    return value


def build_app_data_dictionary(entries: dict[int, bytes]) -> AppDataDictionary:
    """An AppDataDictionary with ``entries`` sorted by component id (for tests and tools)."""
    return AppDataDictionary(
        component_data=tuple(
            ComponentData(component_id=cid, data=entries[cid]) for cid in sorted(entries)
        )
    )


def component(dictionary: AppDataDictionary | None, component_id: int) -> bytes | None:
    """The data stored for ``component_id``, or None."""
    if dictionary is None:
        return None
    for entry in dictionary.component_data:
        if entry.component_id == component_id:
            return entry.data
    return None


def external_commit_policy(dictionary: AppDataDictionary | None) -> ParsedPolicy | None:
    """The EXTERNAL_COMMIT_POLICY component parsed by the wire core, or None if absent."""
    data = component(dictionary, EXTERNAL_COMMIT_POLICY_COMPONENT)
    return None if data is None else parse_policy_entry(data)


class PrecommitProblem(enum.StrEnum):
    """Reasons XIP-82 step 6 says a joiner should abort before publishing anything."""

    NO_POLICY = "no-policy"  # no EXTERNAL_COMMIT_POLICY: external commits are off
    SWITCH_OFF = "switch-off"  # allow_external_commit == false
    EXPIRED = "campaign-expired"  # expires_at_ns set and reached
    MAX_USES_EXHAUSTED = "max-uses-exhausted"  # tagged members >= max_uses (max_uses != 0)
    STALE_GROUP_ID = "stale-external-group-id"  # QR's slot id differs from the policy's
    STALE_KEY = "stale-symmetric-key"  # QR's key differs from the policy's


@dataclass(frozen=True, slots=True)
class PrecommitCheck:
    """Outcome of :func:`precommit_check`; ``ok`` iff no problem was found."""

    policy: ExternalCommitPolicy
    problems: tuple[PrecommitProblem, ...]

    @property
    def ok(self) -> bool:
        """True when the join is not predictably doomed."""
        return not self.problems


def precommit_check(
    dictionary: AppDataDictionary | None,
    payload: InvitePayload,
    now_ns: int,
    *,
    tagged_members: int,
) -> PrecommitCheck:
    """XIP-82 join step 6 over the GroupInfo's AppData.

    ``tagged_members`` is the number of GROUP_MEMBERSHIP entries whose
    ``admitted_via_external_group_id`` equals the policy's active ``external_group_id``;
    the caller counts them (invitekit does not decode libxmtp's GROUP_MEMBERSHIP layout).
    """
    parsed = external_commit_policy(dictionary)
    if parsed is None:
        return PrecommitCheck(ExternalCommitPolicy(), (PrecommitProblem.NO_POLICY,))
    policy = parsed.policy
    problems: list[PrecommitProblem] = []
    if not policy.allow_external_commit:
        problems.append(PrecommitProblem.SWITCH_OFF)
    if policy.expires_at_ns and now_ns >= policy.expires_at_ns:
        problems.append(PrecommitProblem.EXPIRED)
    if policy.max_uses and tagged_members >= policy.max_uses:
        problems.append(PrecommitProblem.MAX_USES_EXHAUSTED)
    if policy.allow_external_commit:
        if not hmac.compare_digest(policy.external_group_id, payload.external_group_id):
            problems.append(PrecommitProblem.STALE_GROUP_ID)
        if not hmac.compare_digest(policy.symmetric_key or b"", payload.symmetric_key):
            problems.append(PrecommitProblem.STALE_KEY)
    return PrecommitCheck(policy, tuple(problems))
