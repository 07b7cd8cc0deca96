"""Which EXTERNAL_COMMIT_POLICY governs a GroupInfo (XIP-82 glue above the MLS layer).

XMTP groups carry the policy as component :data:`~invitekit.policy.COMPONENT_ID` of the
GroupContext's ``app_data_dictionary``. Rules, in order:

* a GroupInfo *with* a dictionary is authoritative: the component's policy, or — when the
  dictionary lacks the component — the default policy (external commits off);
* only a GroupInfo with no dictionary at all (a non-XMTP group) is handed to the caller's
  :data:`PolicyProvider`;
* otherwise no policy is known (:attr:`PolicySource.NONE`): external commits are off by
  default, so the join machine refuses the join (``no-policy``) — a policy must come from
  the GroupInfo or from the caller, never be assumed.

``max_uses`` tags (:func:`group_membership_tags`): the caller's :data:`MembershipTags`
when given, else the GroupInfo's own GROUP_MEMBERSHIP component (XMTP groups); ``None``
when neither can be read, so the count is reported as not run rather than as 0.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .mls import GroupInfoView
from .mls.appdata import component
from .mls.schema import AppDataDictionary
from .policy import COMPONENT_ID, ExternalCommitPolicy, ParsedPolicy, parse_policy_entry
from .xmtp_components import GROUP_MEMBERSHIP, ComponentError, decode_entry, decode_membership

#: Supplies the EXTERNAL_COMMIT_POLICY for a GroupInfo that carries no app_data_dictionary.
PolicyProvider = Callable[[GroupInfoView], ExternalCommitPolicy | None]
#: Reads the GROUP_MEMBERSHIP ``admitted_via_external_group_id`` tags of a GroupInfo's
#: members (XMTP AppData that invitekit does not decode; None for Welcome-added members).
MembershipTags = Callable[[GroupInfoView], Iterable[bytes | None]]


def external_commit_policy(dictionary: AppDataDictionary | None) -> ParsedPolicy | None:
    """The EXTERNAL_COMMIT_POLICY component of ``dictionary`` parsed, or None if absent."""
    data = component(dictionary, COMPONENT_ID)
    return None if data is None else parse_policy_entry(data)


class PolicySource(enum.StrEnum):
    """Where a GroupInfo's policy came from."""

    GROUP_INFO = "group-info"  # the GroupInfo's app_data_dictionary (XMTP groups)
    PROVIDER = "provider"  # a caller-supplied provider (groups without AppData)
    NONE = "none"  # no policy known: the pre-commit check cannot run


@dataclass(frozen=True)
class PolicyRead:
    """A policy and where it came from (``policy`` is None only for ``NONE``)."""

    policy: ExternalCommitPolicy | None
    source: PolicySource


def read_policy(view: GroupInfoView, provider: PolicyProvider | None = None) -> PolicyRead:
    """The EXTERNAL_COMMIT_POLICY that governs ``view`` (rules in the module docstring)."""
    if view.app_data is not None:
        parsed = external_commit_policy(view.app_data)
        policy = parsed.policy if parsed is not None else ExternalCommitPolicy()
        return PolicyRead(policy, PolicySource.GROUP_INFO)
    if provider is not None:
        provided = provider(view)
        if provided is not None:
            return PolicyRead(provided, PolicySource.PROVIDER)
    return PolicyRead(None, PolicySource.NONE)


def group_membership_tags(
    view: GroupInfoView, reader: MembershipTags | None = None
) -> tuple[bytes | None, ...] | None:
    """Every member's ``admitted_via_external_group_id`` (None per untagged member), read
    by ``reader`` or from the GroupInfo's GROUP_MEMBERSHIP; ``None``: they cannot be read
    (no reader and no component, or a malformed one — validators would reject anyway)."""
    if reader is not None:
        return tuple(reader(view))
    data = component(view.app_data, GROUP_MEMBERSHIP)
    if data is None:
        return None
    try:
        return tuple(
            decode_entry(value).admitted_via or None
            for value in decode_membership(data).values()
        )
    except ComponentError:
        return None


__all__ = [
    "MembershipTags",
    "PolicyProvider",
    "PolicyRead",
    "PolicySource",
    "external_commit_policy",
    "group_membership_tags",
    "read_policy",
]
