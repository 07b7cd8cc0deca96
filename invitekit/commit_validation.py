"""XIP-82 receive-side validation: what an existing member checks before merging a commit.

Pure and sans-IO: the inputs are the commit's ``MLSMessage`` bytes, the member's current
group state (a decoded GroupInfo with its ratchet tree, see
:func:`invitekit.mls.parse_group_info`), the commit's delivery-service envelope timestamp,
the current epoch's start timestamp (both nanoseconds) and, optionally, a key-to-inbox
binding callback. No clock is read anywhere: two members given the same inputs reach the
same verdict whenever they run.

Checks run in this order, one function per check from one ordered table (``_EXTERNAL_RULES``
for external commits, ``_MEMBER_RULES`` for member commits); the first failure is the
verdict (:class:`Rejected` names the check and a stable code):

``framing`` (RFC 9420, before XIP check 1)
    the bytes decode strictly as ``MLSMessage(PublicMessage)`` carrying a commit for this
    group and epoch; a ``new_member_commit`` has an ``UpdatePath``; the framing signature
    over ``FramedContentTBS`` (with the member's GroupContext) verifies under the path leaf's
    key (external) or the sender leaf's key (member); every by-value ``Add`` KeyPackage's own
    signature verifies.
``1`` the sender is ``new_member_commit``.
``2`` exactly one ``ExternalInit`` (by value).
``3`` the joiner's credential is an XMTP ``MlsCredential``; every ``Add`` names the same
    inbox; when a binding callback is given, it accepts the joiner's and every added
    installation's signature key for that inbox.
``4`` the group carries ``GROUP_MEMBERSHIP`` and the joiner's inbox is in neither the
    ratchet tree nor ``GROUP_MEMBERSHIP``.
``5`` exactly one ``AppDataUpdate``, an update of ``GROUP_MEMBERSHIP`` whose delta is a single
    insert of the joiner's own entry, a well-formed ``GroupMembershipEntry``; an external
    commit never writes ``EXTERNAL_COMMIT_POLICY`` (``external-policy-write``).
``6`` nothing of the forbidden list (first offender in proposal order): a proposal by
    reference, ``Remove``, ``PreSharedKey``, ``GroupContextExtensions``, ``Update``,
    ``ReInit``.
``7`` ``EXTERNAL_COMMIT_POLICY`` is present and ``allow_external_commit`` is true.
``8`` ``envelope_ns <= expires_at_ns`` when ``expires_at_ns != 0``.
``9`` ``envelope_ns - epoch_start_ns <= expire_in_ns`` when ``expire_in_ns != 0``.
``10`` the new entry's ``admitted_via_external_group_id`` equals the active
    ``external_group_id``.
``11`` when ``max_uses != 0``: fewer than ``max_uses`` current entries carry that tag.

A member commit goes through :func:`validate_member_commit` instead, two rules:

``policy-lifecycle``
    every write of ``EXTERNAL_COMMIT_POLICY`` (an ``AppDataUpdate`` of it, or a
    ``GroupContextExtensions`` replacing the ``app_data_dictionary``) leaves a policy that
    satisfies the XIP's lifecycle invariants — enabled ⇒ a 32-byte key and a slot id of at
    least 4 bytes; disabled ⇒ no per-invite field (the rule :class:`ExternalCommitPolicy`
    owns) — and a re-enable within one commit does not bring back a key the same commit
    revoked (the one place a validator can see key reuse).
``member-tag``
    every ``GROUP_MEMBERSHIP`` delta it carries, applied in order, must leave each
    surviving entry's ``admitted_via_external_group_id`` as it was — no member may set,
    clear or alter it.

:func:`validate_commit` dispatches on the sender.

**The caller's MLS stack still owns** everything that needs epoch secrets or the full
RFC 9420 state machine: the confirmation tag, the membership tag, decrypting a
``PrivateMessage``, the ExternalInit KEM output, the UpdatePath (its leaf signature, parent
hashes and encrypted path secrets) and merging. A member runs this validator *and* its stack;
the commit is accepted only when both accept it.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .errors import (
    DisabledWithInviteFields,
    EnabledWithoutInvite,
    InvalidExternalGroupId,
    InvalidSymmetricKeyLength,
    InviteKitError,
    MissingSymmetricKey,
)
from .mls.appdata import component, decode_app_data_dictionary
from .mls.errors import MlsDecodeError, MlsError
from .mls.framing import (
    CONTENT_COMMIT,
    SENDER_MEMBER,
    SENDER_NEW_MEMBER_COMMIT,
    SENDER_TYPES,
    PublicMessage,
    decode_public_message,
    verify_framing_signature,
)
from .mls.groupinfo import GroupInfoView
from .mls.proposals import (
    APP_DATA_OP_UPDATE,
    BY_VALUE,
    PROPOSAL_ADD,
    PROPOSAL_APP_DATA_UPDATE,
    PROPOSAL_EXTERNAL_INIT,
    PROPOSAL_GROUP_CONTEXT_EXTENSIONS,
    PROPOSAL_PSK,
    PROPOSAL_REINIT,
    PROPOSAL_REMOVE,
    PROPOSAL_UPDATE,
    Commit,
    KeyPackage,
    Proposal,
)
from .mls.schema import EXTENSION_APP_DATA_DICTIONARY, Extension
from .mls.suites import verify_with_label
from .mls.tls import encode_varint
from .policy import COMPONENT_ID as EXTERNAL_COMMIT_POLICY
from .policy import ExternalCommitPolicy, count_uses, parse_policy_entry
from .xmtp_components import (
    GROUP_MEMBERSHIP,
    MUTATION_INSERT,
    ComponentError,
    MalformedDelta,
    MembershipEntry,
    apply_delta,
    credential_inbox_id,
    decode_delta,
    decode_entry,
    decode_membership,
)

#: ``binding(inbox_id, signature_key) -> bool``: does this installation key belong to the
#: inbox (the application's identity service answers)?
KeyBinding = Callable[[bytes, bytes], bool]
#: ``resolve(proposal_ref) -> Proposal | None``: the member stack's proposal cache.
ProposalResolver = Callable[[bytes], Proposal | None]


class Check(enum.StrEnum):
    """Which rule a verdict comes from: RFC 9420 framing, XIP checks 1–11, the tag rule."""

    FRAMING = "framing"
    SENDER = "1"
    EXTERNAL_INIT = "2"
    ADDS_SAME_INBOX = "3"
    NOT_ALREADY_MEMBER = "4"
    APP_DATA_UPDATE = "5"
    FORBIDDEN_PROPOSALS = "6"
    SWITCH_ON = "7"
    CAMPAIGN_EXPIRY = "8"
    STALENESS = "9"
    ADMITTED_VIA = "10"
    MAX_USES = "11"
    POLICY_LIFECYCLE = "policy-lifecycle"
    MEMBER_TAG = "member-tag"


class Code(enum.StrEnum):
    """Stable rejection codes (one per distinct reason)."""

    MALFORMED_COMMIT = "malformed-commit"
    NOT_A_COMMIT = "not-a-commit"
    WRONG_GROUP = "wrong-group"
    WRONG_EPOCH = "wrong-epoch"
    MISSING_UPDATE_PATH = "missing-update-path"
    UNKNOWN_SENDER_LEAF = "unknown-sender-leaf"
    FRAMING_SIGNATURE_INVALID = "framing-signature-invalid"
    KEY_PACKAGE_INVALID = "key-package-invalid"
    NOT_NEW_MEMBER_COMMIT = "not-new-member-commit"
    EXTERNAL_INIT_MISSING = "external-init-missing"
    EXTERNAL_INIT_MULTIPLE = "external-init-multiple"
    JOINER_CREDENTIAL_INVALID = "joiner-credential-invalid"
    ADD_CREDENTIAL_INVALID = "add-credential-invalid"
    ADD_FOREIGN_INBOX = "add-foreign-inbox"
    KEY_NOT_BOUND_TO_INBOX = "key-not-bound-to-inbox"
    NO_GROUP_MEMBERSHIP = "no-group-membership"
    GROUP_MEMBERSHIP_MALFORMED = "group-membership-malformed"
    JOINER_ALREADY_MEMBER = "joiner-already-member"
    APP_DATA_UPDATE_MISSING = "app-data-update-missing"
    APP_DATA_UPDATE_MULTIPLE = "app-data-update-multiple"
    APP_DATA_UPDATE_WRONG_COMPONENT = "app-data-update-wrong-component"
    APP_DATA_UPDATE_NOT_UPDATE = "app-data-update-not-update"
    APP_DATA_UPDATE_MALFORMED = "app-data-update-malformed"
    APP_DATA_UPDATE_OUT_OF_SCOPE = "app-data-update-out-of-scope"
    EXTERNAL_POLICY_WRITE = "external-policy-write"
    MEMBERSHIP_ENTRY_MALFORMED = "membership-entry-malformed"
    PROPOSAL_BY_REFERENCE = "proposal-by-reference"
    FORBIDDEN_REMOVE = "forbidden-remove"
    FORBIDDEN_PSK = "forbidden-psk"
    FORBIDDEN_GROUP_CONTEXT_EXTENSIONS = "forbidden-group-context-extensions"
    FORBIDDEN_UPDATE = "forbidden-update"
    FORBIDDEN_REINIT = "forbidden-reinit"
    NO_POLICY = "no-policy"
    POLICY_MALFORMED = "policy-malformed"
    EXTERNAL_COMMITS_DISABLED = "external-commits-disabled"
    INVITE_EXPIRED = "invite-expired"
    GROUP_INFO_STALE = "group-info-stale"
    ADMITTED_VIA_MISMATCH = "admitted-via-mismatch"
    MAX_USES_EXHAUSTED = "max-uses-exhausted"
    NOT_A_MEMBER_SENDER = "not-a-member-sender"
    PROPOSAL_REF_UNRESOLVED = "proposal-ref-unresolved"
    MEMBERSHIP_COMPONENT_REMOVED = "membership-component-removed"
    ADMITTED_VIA_SET = "admitted-via-set"
    ADMITTED_VIA_CLEARED = "admitted-via-cleared"
    ADMITTED_VIA_ALTERED = "admitted-via-altered"
    POLICY_WRITE_MALFORMED = "policy-write-malformed"
    POLICY_ENABLED_WITHOUT_INVITE = "policy-enabled-without-invite"
    POLICY_INVITE_FIELD_INVALID = "policy-invite-field-invalid"
    POLICY_DISABLED_WITH_INVITE_FIELDS = "policy-disabled-with-invite-fields"
    POLICY_KEY_REUSED = "policy-key-reused"



@dataclass(frozen=True, slots=True)
class Accepted:
    """The commit passed every check this validator owns (the MLS stack still must)."""

    sender: str
    joiner_inbox_id: bytes | None = None
    added_installations: int = 0
    #: The checks that ran, in order (:data:`EXTERNAL_CHECKS` or :data:`MEMBER_CHECKS`).
    checks: tuple[Check, ...] = ()
    #: Member commits: how many EXTERNAL_COMMIT_POLICY writes and GROUP_MEMBERSHIP
    #: updates the rules examined.
    policy_writes: int = 0
    membership_updates: int = 0

    accepted = True


@dataclass(frozen=True, slots=True)
class Rejected:
    """The first failing check and its stable code; ``detail`` never carries key bytes."""

    check: Check
    code: Code
    detail: str
    #: The inbox the rejection is about (a foreign Add's, an already-member joiner's).
    inbox_id: bytes | None = None

    accepted = False


Verdict = Accepted | Rejected


class _Reject(Exception):
    def __init__(
        self, check: Check, code: Code, detail: str, inbox_id: bytes | None = None
    ) -> None:
        super().__init__(detail)
        self.verdict = Rejected(check, code, detail, inbox_id)


class GroupState:
    """A member's group at one epoch and what the validator derives from it.

    Built from the member's decoded GroupInfo; the derived values (the decoded
    GROUP_MEMBERSHIP, the inboxes of the tree's leaves, the per-slot tag counts) are computed
    on first use and kept, so a member validating several commits against one epoch pays for
    them once. Every validator function also accepts the bare :class:`GroupInfoView`.
    """

    def __init__(self, view: GroupInfoView) -> None:
        self.view = view

    @cached_property
    def _membership(self) -> tuple[dict[bytes, bytes] | None, Code | None, str]:
        data = component(self.view.app_data, GROUP_MEMBERSHIP)
        if data is None:
            return None, Code.NO_GROUP_MEMBERSHIP, "the group has no GROUP_MEMBERSHIP"
        try:
            return decode_membership(data), None, ""
        except ComponentError as exc:
            return None, Code.GROUP_MEMBERSHIP_MALFORMED, str(exc)

    def membership(self, check: Check) -> dict[bytes, bytes]:
        """The GROUP_MEMBERSHIP snapshot, or a rejection under ``check``."""
        entries, code, detail = self._membership
        if entries is None:
            assert code is not None
            raise _Reject(check, code, detail)
        return entries

    @cached_property
    def tree_inboxes(self) -> dict[bytes, int]:
        """Inbox id → first leaf index holding it (leaves without an XMTP credential skipped)."""
        found: dict[bytes, int] = {}
        for leaf_index, leaf in self.view.members():
            try:
                found.setdefault(credential_inbox_id(leaf.credential), leaf_index)
            except ComponentError:
                continue  # a non-XMTP leaf names no inbox
        return found

    @cached_property
    def _tags(self) -> tuple[tuple[bytes | None, ...] | None, str]:
        tags: list[bytes | None] = []
        for value in self.membership(Check.MAX_USES).values():
            try:
                tags.append(decode_entry(value).admitted_via or None)
            except ComponentError as exc:
                return None, str(exc)
        return tuple(tags), ""

    def membership_tags(self) -> tuple[bytes | None, ...]:
        """Every entry's ``admitted_via_external_group_id`` (None when absent); a malformed
        entry is a rejection under check 11."""
        tags, detail = self._tags
        if tags is None:
            raise _Reject(Check.MAX_USES, Code.MEMBERSHIP_ENTRY_MALFORMED, detail)
        return tags


State = GroupInfoView | GroupState


def _state(state: State) -> GroupState:
    return state if isinstance(state, GroupState) else GroupState(state)


# --- shared steps -------------------------------------------------------------------------


def _decode(commit: bytes) -> PublicMessage:
    """Framing, part 1: strict decode of ``MLSMessage(PublicMessage)``."""
    try:
        return decode_public_message(commit)
    except MlsDecodeError as exc:
        raise _Reject(Check.FRAMING, Code.MALFORMED_COMMIT, f"{exc.code}: {exc}") from None


def _check_frame(message: PublicMessage, state: GroupInfoView) -> None:
    """Framing, part 2: a commit, for this group, at this epoch."""
    content = message.content
    if content.content_type != CONTENT_COMMIT or content.commit is None:
        raise _Reject(Check.FRAMING, Code.NOT_A_COMMIT, "the message does not carry a commit")
    if not hmac.compare_digest(content.group_id, state.group_id):
        raise _Reject(Check.FRAMING, Code.WRONG_GROUP, "commit is for another group")
    if content.epoch != state.epoch:
        raise _Reject(
            Check.FRAMING,
            Code.WRONG_EPOCH,
            f"commit is framed at epoch {content.epoch}, the group is at {state.epoch}",
        )


def _verify_signature(message: PublicMessage, state: GroupInfoView, key: bytes) -> None:
    try:
        verify_framing_signature(message, state.suite, key, state.group_context_bytes)
    except MlsError as exc:
        raise _Reject(Check.FRAMING, Code.FRAMING_SIGNATURE_INVALID, exc.code) from None


def _verify_key_package(state: GroupInfoView, kp: KeyPackage) -> None:
    """RFC 9420 §10.1: suite and KeyPackageTBS signature under the leaf's own key."""
    if kp.cipher_suite != state.cipher_suite:
        raise _Reject(Check.FRAMING, Code.KEY_PACKAGE_INVALID, "KeyPackage suite differs")
    sig_field = len(encode_varint(len(kp.signature))) + len(kp.signature)
    tbs = kp.raw[: len(kp.raw) - sig_field]
    try:
        verify_with_label(
            state.suite, kp.leaf_node.signature_key, "KeyPackageTBS", tbs, kp.signature
        )
    except MlsError as exc:
        raise _Reject(Check.FRAMING, Code.KEY_PACKAGE_INVALID, exc.code) from None


def _entry(data: bytes, check: Check) -> MembershipEntry:
    try:
        return decode_entry(data)
    except ComponentError as exc:
        raise _Reject(check, Code.MEMBERSHIP_ENTRY_MALFORMED, str(exc)) from None


# --- external commits ----------------------------------------------------------------------

_FORBIDDEN = {
    PROPOSAL_REMOVE: Code.FORBIDDEN_REMOVE,
    PROPOSAL_PSK: Code.FORBIDDEN_PSK,
    PROPOSAL_GROUP_CONTEXT_EXTENSIONS: Code.FORBIDDEN_GROUP_CONTEXT_EXTENSIONS,
    PROPOSAL_UPDATE: Code.FORBIDDEN_UPDATE,
    PROPOSAL_REINIT: Code.FORBIDDEN_REINIT,
}


@dataclass
class _ExternalCommit:
    """One external commit under validation, and what earlier checks established for the
    later ones: the joiner's inbox (check 3), its new membership entry (check 5) and the
    group's policy (check 7)."""

    message: PublicMessage
    group: GroupState
    envelope_ns: int
    epoch_start_ns: int
    key_binding: KeyBinding | None
    joiner: bytes = b""
    new_entry: MembershipEntry | None = None
    policy: ExternalCommitPolicy | None = None

    @property
    def state(self) -> GroupInfoView:
        return self.group.view

    @property
    def commit(self) -> Commit:
        commit = self.message.content.commit
        assert commit is not None  # framing: the message carries a commit
        return commit

    @cached_property
    def by_value(self) -> list[Proposal]:
        return [p.proposal for p in self.commit.proposals if p.type == BY_VALUE and p.proposal]

    @cached_property
    def adds(self) -> list[KeyPackage]:
        return [
            p.key_package
            for p in self.by_value
            if p.proposal_type == PROPOSAL_ADD and p.key_package
        ]

    def active_policy(self) -> ExternalCommitPolicy:
        assert self.policy is not None  # check 7 read it
        return self.policy


def _external_framing(c: _ExternalCommit) -> None:
    """Framing: a commit for this group and epoch, its signature, every Add's KeyPackage."""
    state = c.state
    _check_frame(c.message, state)
    commit = c.commit
    sender_type = c.message.content.sender.sender_type
    if sender_type == SENDER_NEW_MEMBER_COMMIT:
        if commit.path is None:
            raise _Reject(Check.FRAMING, Code.MISSING_UPDATE_PATH, "external commit has no path")
        _verify_signature(c.message, state, commit.path.leaf_node.signature_key)
    elif sender_type == SENDER_MEMBER:
        _verify_signature(c.message, state, _sender_leaf_key(c.message, state))
    for kp in c.adds:
        _verify_key_package(state, kp)


def _check_sender(c: _ExternalCommit) -> None:
    """1. The sender is new_member_commit."""
    sender_type = c.message.content.sender.sender_type
    if sender_type != SENDER_NEW_MEMBER_COMMIT:
        raise _Reject(
            Check.SENDER,
            Code.NOT_NEW_MEMBER_COMMIT,
            f"sender is {SENDER_TYPES[sender_type]}, not new_member_commit",
        )


def _check_external_init(c: _ExternalCommit) -> None:
    """2. Exactly one ExternalInit."""
    inits = sum(1 for p in c.by_value if p.proposal_type == PROPOSAL_EXTERNAL_INIT)
    if inits != 1:
        code = Code.EXTERNAL_INIT_MISSING if inits == 0 else Code.EXTERNAL_INIT_MULTIPLE
        raise _Reject(Check.EXTERNAL_INIT, code, f"{inits} ExternalInit proposals")


def _check_adds_same_inbox(c: _ExternalCommit) -> None:
    """3. Every Add shares the joiner's inbox (and, optionally, every key belongs to it)."""
    path = c.commit.path
    assert path is not None  # framing: a new_member_commit has a path
    joiner_leaf = path.leaf_node
    try:
        joiner = credential_inbox_id(joiner_leaf.credential)
    except ComponentError as exc:
        raise _Reject(Check.ADDS_SAME_INBOX, Code.JOINER_CREDENTIAL_INVALID, str(exc)) from None
    for index, kp in enumerate(c.adds):
        try:
            added = credential_inbox_id(kp.leaf_node.credential)
        except ComponentError as exc:
            raise _Reject(
                Check.ADDS_SAME_INBOX, Code.ADD_CREDENTIAL_INVALID, f"Add {index}: {exc}"
            ) from None
        if added != joiner:
            raise _Reject(
                Check.ADDS_SAME_INBOX,
                Code.ADD_FOREIGN_INBOX,
                f"Add {index} names another inbox than the joiner's",
                added,
            )
    if c.key_binding is not None:
        keys = [joiner_leaf.signature_key, *(kp.leaf_node.signature_key for kp in c.adds)]
        for index, key in enumerate(keys):
            if not c.key_binding(joiner, key):
                what = "the joiner's key" if index == 0 else f"Add {index - 1}'s key"
                raise _Reject(
                    Check.ADDS_SAME_INBOX,
                    Code.KEY_NOT_BOUND_TO_INBOX,
                    f"{what} is not bound to the joiner's inbox",
                )
    c.joiner = joiner


def _check_not_already_member(c: _ExternalCommit) -> None:
    """4. Not already a member (tree leaves and GROUP_MEMBERSHIP)."""
    membership = c.group.membership(Check.NOT_ALREADY_MEMBER)
    if c.joiner in membership:
        raise _Reject(
            Check.NOT_ALREADY_MEMBER,
            Code.JOINER_ALREADY_MEMBER,
            "inbox has a membership entry",
            c.joiner,
        )
    leaf_index = c.group.tree_inboxes.get(c.joiner)
    if leaf_index is not None:
        raise _Reject(
            Check.NOT_ALREADY_MEMBER,
            Code.JOINER_ALREADY_MEMBER,
            f"inbox already holds leaf {leaf_index}",
            c.joiner,
        )


def _check_app_data_update(c: _ExternalCommit) -> None:
    """5. Exactly one AppDataUpdate: the joiner's own GROUP_MEMBERSHIP insert."""
    updates = [p.app_data_update for p in c.by_value if p.app_data_update is not None]
    if any(u.component_id == EXTERNAL_COMMIT_POLICY for u in updates):
        raise _Reject(
            Check.APP_DATA_UPDATE,
            Code.EXTERNAL_POLICY_WRITE,
            "an external commit may not write EXTERNAL_COMMIT_POLICY",
        )
    if len(updates) != 1:
        code = Code.APP_DATA_UPDATE_MISSING if not updates else Code.APP_DATA_UPDATE_MULTIPLE
        raise _Reject(Check.APP_DATA_UPDATE, code, f"{len(updates)} AppDataUpdate proposals")
    update = updates[0]
    if update.component_id != GROUP_MEMBERSHIP:
        raise _Reject(
            Check.APP_DATA_UPDATE,
            Code.APP_DATA_UPDATE_WRONG_COMPONENT,
            f"AppDataUpdate targets component {update.component_id:#06x}",
        )
    if update.op != APP_DATA_OP_UPDATE or update.update is None:
        raise _Reject(
            Check.APP_DATA_UPDATE, Code.APP_DATA_UPDATE_NOT_UPDATE, "removes GROUP_MEMBERSHIP"
        )
    try:
        delta = decode_delta(update.update)
    except MalformedDelta as exc:
        raise _Reject(Check.APP_DATA_UPDATE, Code.APP_DATA_UPDATE_MALFORMED, str(exc)) from None
    mutations = delta.mutations
    if (
        len(mutations) != 1
        or mutations[0].type != MUTATION_INSERT
        or mutations[0].key.id != c.joiner
        or mutations[0].value is None
    ):
        raise _Reject(
            Check.APP_DATA_UPDATE,
            Code.APP_DATA_UPDATE_OUT_OF_SCOPE,
            "the delta must be exactly one insert of the joiner's own entry",
        )
    c.new_entry = _entry(mutations[0].value, Check.APP_DATA_UPDATE)


def _check_forbidden_proposals(c: _ExternalCommit) -> None:
    """6. Nothing of the forbidden list, first offender in proposal order."""
    for index, item in enumerate(c.commit.proposals):
        if item.type != BY_VALUE or item.proposal is None:
            raise _Reject(
                Check.FORBIDDEN_PROPOSALS,
                Code.PROPOSAL_BY_REFERENCE,
                f"proposal {index} is by reference",
            )
        forbidden = _FORBIDDEN.get(item.proposal.proposal_type)
        if forbidden is not None:
            raise _Reject(Check.FORBIDDEN_PROPOSALS, forbidden, f"proposal {index} is forbidden")


def _check_switch_on(c: _ExternalCommit) -> None:
    """7. The master switch: EXTERNAL_COMMIT_POLICY present, external commits allowed."""
    policy_bytes = component(c.state.app_data, EXTERNAL_COMMIT_POLICY)
    if policy_bytes is None:
        raise _Reject(Check.SWITCH_ON, Code.NO_POLICY, "no EXTERNAL_COMMIT_POLICY")
    try:
        policy = parse_policy_entry(policy_bytes).policy
    except InviteKitError as exc:
        raise _Reject(Check.SWITCH_ON, Code.POLICY_MALFORMED, exc.code) from None
    if not policy.allow_external_commit:
        raise _Reject(Check.SWITCH_ON, Code.EXTERNAL_COMMITS_DISABLED, "switch is off")
    c.policy = policy


def _check_campaign_expiry(c: _ExternalCommit) -> None:
    """8. Campaign end, against the envelope timestamp."""
    policy = c.active_policy()
    if policy.expires_at_ns and c.envelope_ns > policy.expires_at_ns:
        raise _Reject(
            Check.CAMPAIGN_EXPIRY,
            Code.INVITE_EXPIRED,
            f"envelope {c.envelope_ns} is past expires_at_ns {policy.expires_at_ns}",
        )


def _check_staleness(c: _ExternalCommit) -> None:
    """9. Staleness from the epoch start."""
    policy = c.active_policy()
    if policy.expire_in_ns and c.envelope_ns - c.epoch_start_ns > policy.expire_in_ns:
        raise _Reject(
            Check.STALENESS,
            Code.GROUP_INFO_STALE,
            f"{c.envelope_ns - c.epoch_start_ns} ns into the epoch, bound {policy.expire_in_ns}",
        )


def _check_admitted_via(c: _ExternalCommit) -> None:
    """10. The new entry records the active slot id."""
    assert c.new_entry is not None  # check 5 decoded it
    if not hmac.compare_digest(c.new_entry.admitted_via, c.active_policy().external_group_id):
        raise _Reject(
            Check.ADMITTED_VIA,
            Code.ADMITTED_VIA_MISMATCH,
            "admitted_via_external_group_id differs from the active external_group_id",
        )


def _check_max_uses(c: _ExternalCommit) -> None:
    """11. Concurrent uses of the active slot id stay below ``max_uses``."""
    policy = c.active_policy()
    if policy.max_uses:
        used = count_uses(policy, c.group.membership_tags())
        if used >= policy.max_uses:
            raise _Reject(
                Check.MAX_USES,
                Code.MAX_USES_EXHAUSTED,
                f"{used} members already admitted via this invite (max_uses {policy.max_uses})",
            )


#: Every check an external commit goes through, in the XIP's order (framing first); the
#: first that raises is the verdict. A check may rely on what an earlier one established.
_EXTERNAL_RULES: tuple[tuple[Check, Callable[[_ExternalCommit], None]], ...] = (
    (Check.FRAMING, _external_framing),
    (Check.SENDER, _check_sender),
    (Check.EXTERNAL_INIT, _check_external_init),
    (Check.ADDS_SAME_INBOX, _check_adds_same_inbox),
    (Check.NOT_ALREADY_MEMBER, _check_not_already_member),
    (Check.APP_DATA_UPDATE, _check_app_data_update),
    (Check.FORBIDDEN_PROPOSALS, _check_forbidden_proposals),
    (Check.SWITCH_ON, _check_switch_on),
    (Check.CAMPAIGN_EXPIRY, _check_campaign_expiry),
    (Check.STALENESS, _check_staleness),
    (Check.ADMITTED_VIA, _check_admitted_via),
    (Check.MAX_USES, _check_max_uses),
)
#: The checks an external commit goes through, in order.
EXTERNAL_CHECKS: tuple[Check, ...] = tuple(check for check, _ in _EXTERNAL_RULES)


def _external_commit(
    message: PublicMessage,
    group: GroupState,
    envelope_ns: int,
    epoch_start_ns: int,
    key_binding: KeyBinding | None,
) -> Accepted:
    commit = _ExternalCommit(message, group, envelope_ns, epoch_start_ns, key_binding)
    for _check, rule in _EXTERNAL_RULES:
        rule(commit)
    return Accepted("new_member_commit", commit.joiner, len(commit.adds), checks=EXTERNAL_CHECKS)


def validate_external_commit(
    commit: bytes,
    state: State,
    *,
    envelope_ns: int,
    epoch_start_ns: int,
    key_binding: KeyBinding | None = None,
) -> Verdict:
    """XIP-82 checks 1–11 (after the framing check) on an external commit.

    ``state`` is the member's group at the current epoch (a :class:`GroupInfoView` parsed
    with its ratchet tree, which the caller verified, or a :class:`GroupState` over one).
    ``envelope_ns`` is the delivery-service timestamp of the commit, ``epoch_start_ns`` that
    of the message by which this member entered or observed the current epoch.
    ``key_binding``, when given, decides whether each installation key belongs to the
    joiner's inbox. The confirmation tag, the ExternalInit KEM output and the UpdatePath
    remain the caller's MLS stack's job.
    """
    group = _state(state)
    return _verdict(
        lambda: _external_commit(_decode(commit), group, envelope_ns, epoch_start_ns, key_binding)
    )


def _verdict(run: Callable[[], Accepted]) -> Verdict:
    try:
        return run()
    except _Reject as reject:
        return reject.verdict


# --- member commits -----------------------------------------------------------------------


def _sender_leaf_key(message: PublicMessage, state: GroupInfoView) -> bytes:
    leaf_index = message.content.sender.leaf_index
    leaf = None if leaf_index is None or state.tree is None else state.tree.leaf(leaf_index)
    if leaf is None:
        raise _Reject(Check.FRAMING, Code.UNKNOWN_SENDER_LEAF, f"leaf {leaf_index} is not a member")
    return leaf.signature_key


_LIFECYCLE_CODES: dict[type[InviteKitError], Code] = {
    EnabledWithoutInvite: Code.POLICY_ENABLED_WITHOUT_INVITE,
    MissingSymmetricKey: Code.POLICY_ENABLED_WITHOUT_INVITE,
    InvalidSymmetricKeyLength: Code.POLICY_INVITE_FIELD_INVALID,
    InvalidExternalGroupId: Code.POLICY_INVITE_FIELD_INVALID,
    DisabledWithInviteFields: Code.POLICY_DISABLED_WITH_INVITE_FIELDS,
}


def _policy_write(data: bytes | None, index: int) -> ExternalCommitPolicy:
    """The policy one write leaves (None: the component is gone, the default policy);
    a violated lifecycle invariant is a rejection with that invariant's code."""
    if data is None:
        return ExternalCommitPolicy()
    try:
        return parse_policy_entry(data).policy
    except InviteKitError as exc:
        code = _LIFECYCLE_CODES.get(type(exc), Code.POLICY_WRITE_MALFORMED)
        raise _Reject(
            Check.POLICY_LIFECYCLE, code, f"policy write {index}: {exc.code}: {exc}"
        ) from None


def _dictionary_policy(extensions: tuple[Extension, ...]) -> bytes | None:
    """The EXTERNAL_COMMIT_POLICY a GroupContextExtensions proposal leaves (None: none)."""
    for extension in extensions:
        if extension.extension_type == EXTENSION_APP_DATA_DICTIONARY:
            try:
                dictionary = decode_app_data_dictionary(extension.extension_data)
            except MlsError as exc:
                raise _Reject(
                    Check.POLICY_LIFECYCLE,
                    Code.POLICY_WRITE_MALFORMED,
                    f"GroupContextExtensions carries an unreadable app_data_dictionary: {exc.code}",
                ) from None
            return component(dictionary, EXTERNAL_COMMIT_POLICY)
    return None


def _policy_rule(group: GroupState, proposals: list[Proposal]) -> int:
    """Every EXTERNAL_COMMIT_POLICY write of a member commit, in application order
    (a GroupContextExtensions first, as RFC 9420 §12.3 applies it, then each AppDataUpdate
    in proposal order), must leave a policy that keeps the lifecycle invariants; and a key
    this commit revoked may not come back in a re-enable later in the same commit."""
    writes: list[bytes | None] = [
        _dictionary_policy(p.extensions)
        for p in proposals
        if p.proposal_type == PROPOSAL_GROUP_CONTEXT_EXTENSIONS and p.extensions is not None
    ]
    writes += [
        p.app_data_update.update if p.app_data_update.op == APP_DATA_OP_UPDATE else None
        for p in proposals
        if p.proposal_type == PROPOSAL_APP_DATA_UPDATE
        and p.app_data_update is not None
        and p.app_data_update.component_id == EXTERNAL_COMMIT_POLICY
    ]
    if not writes:
        return 0
    before = component(group.view.app_data, EXTERNAL_COMMIT_POLICY)
    try:
        live_key = None if before is None else parse_policy_entry(before).policy.symmetric_key
    except InviteKitError:
        live_key = None  # an unreadable pre-state names no key to compare against
    revoked: list[bytes] = []
    for index, data in enumerate(writes):
        policy = _policy_write(data, index)
        key = policy.symmetric_key
        if not policy.allow_external_commit:
            if live_key is not None:
                revoked.append(live_key)
            live_key = None
            continue
        assert key is not None  # enabled ⇒ key (the policy's own invariant)
        if any(hmac.compare_digest(key, old) for old in revoked):
            raise _Reject(
                Check.POLICY_LIFECYCLE,
                Code.POLICY_KEY_REUSED,
                f"policy write {index} re-enables with a key this commit revoked",
            )
        live_key = key
    return len(writes)


def _tag_rule(before: Mapping[bytes, bytes], after: Mapping[bytes, bytes]) -> None:
    """Each surviving or new entry keeps the tag it had (new entries: none)."""
    for key, value in after.items():
        if before.get(key) == value:
            continue
        new_tag = _entry(value, Check.MEMBER_TAG).admitted_via
        old_tag = _entry(before[key], Check.MEMBER_TAG).admitted_via if key in before else b""
        if new_tag == old_tag:
            continue
        if not old_tag:
            raise _Reject(Check.MEMBER_TAG, Code.ADMITTED_VIA_SET, "a member set the tag", key)
        if not new_tag:
            raise _Reject(
                Check.MEMBER_TAG, Code.ADMITTED_VIA_CLEARED, "a member cleared the tag", key
            )
        raise _Reject(Check.MEMBER_TAG, Code.ADMITTED_VIA_ALTERED, "a member altered the tag", key)


def validate_member_commit(
    commit: bytes,
    state: State,
    *,
    resolve_reference: ProposalResolver | None = None,
) -> Verdict:
    """The member-sender rules: policy writes keep the lifecycle invariants, and no member
    commit sets, clears or alters an entry's tag.

    Checks the framing (as for external commits, signature under the sender leaf's key),
    that the sender is a member, then every ``EXTERNAL_COMMIT_POLICY`` write (the
    ``policy-lifecycle`` rule, see the module docstring), then applies every
    ``AppDataUpdate(GROUP_MEMBERSHIP)`` in proposal order to the current snapshot, each
    against the previous result, and compares every entry's
    ``admitted_via_external_group_id`` before and after. Proposals by reference are looked
    up with ``resolve_reference`` (the member stack's proposal cache); one that cannot be
    resolved is rejected (fail closed). Membership tag and confirmation tag remain the MLS
    stack's job.
    """
    group = _state(state)
    return _verdict(lambda: _member_commit(_decode(commit), group, resolve_reference))


@dataclass
class _MemberCommit:
    """One member commit under validation: its proposals, references resolved (framing),
    and what each rule examined (for :class:`Accepted`)."""

    message: PublicMessage
    group: GroupState
    resolve_reference: ProposalResolver | None
    proposals: list[Proposal] = field(default_factory=list)
    policy_writes: int = 0
    membership_updates: int = 0


def _member_framing(c: _MemberCommit) -> None:
    """Framing: a commit for this group and epoch from a member leaf, its signature under
    that leaf's key, every proposal by reference resolved (a non-member sender and an
    unresolved reference are rejected under ``member-tag``, as they always were)."""
    message, state = c.message, c.group.view
    _check_frame(message, state)
    if message.content.sender.sender_type != SENDER_MEMBER:
        raise _Reject(
            Check.MEMBER_TAG,
            Code.NOT_A_MEMBER_SENDER,
            f"sender is {SENDER_TYPES[message.content.sender.sender_type]}",
        )
    _verify_signature(message, state, _sender_leaf_key(message, state))
    commit_body = message.content.commit
    assert commit_body is not None
    for index, item in enumerate(commit_body.proposals):
        if item.type == BY_VALUE and item.proposal is not None:
            c.proposals.append(item.proposal)
            continue
        found = None
        if c.resolve_reference is not None and item.reference is not None:
            found = c.resolve_reference(item.reference)
        if found is None:
            raise _Reject(
                Check.MEMBER_TAG,
                Code.PROPOSAL_REF_UNRESOLVED,
                f"proposal {index} is a reference the caller could not resolve",
            )
        c.proposals.append(found)


def _policy_lifecycle(c: _MemberCommit) -> None:
    """``policy-lifecycle``: see :func:`_policy_rule`."""
    c.policy_writes = _policy_rule(c.group, c.proposals)


def _member_tag(c: _MemberCommit) -> None:
    """``member-tag``: every GROUP_MEMBERSHIP update, applied in proposal order to the
    current snapshot, leaves each entry's tag as it was (:func:`_tag_rule`)."""
    touches = [
        p.app_data_update
        for p in c.proposals
        if p.proposal_type == PROPOSAL_APP_DATA_UPDATE
        and p.app_data_update is not None
        and p.app_data_update.component_id == GROUP_MEMBERSHIP
    ]
    c.membership_updates = len(touches)
    if touches:
        before = c.group.membership(Check.MEMBER_TAG)
        after = dict(before)
        for update in touches:
            if update.op != APP_DATA_OP_UPDATE or update.update is None:
                raise _Reject(
                    Check.MEMBER_TAG,
                    Code.MEMBERSHIP_COMPONENT_REMOVED,
                    "a member commit removes GROUP_MEMBERSHIP",
                )
            try:
                after = apply_delta(after, decode_delta(update.update))
            except MalformedDelta as exc:
                raise _Reject(Check.MEMBER_TAG, Code.APP_DATA_UPDATE_MALFORMED, str(exc)) from None
        _tag_rule(before, after)


#: Every rule a member commit goes through, in order; the first that raises is the verdict.
_MEMBER_RULES: tuple[tuple[Check, Callable[[_MemberCommit], None]], ...] = (
    (Check.FRAMING, _member_framing),
    (Check.POLICY_LIFECYCLE, _policy_lifecycle),
    (Check.MEMBER_TAG, _member_tag),
)
#: The checks a member commit goes through, in order.
MEMBER_CHECKS: tuple[Check, ...] = tuple(check for check, _ in _MEMBER_RULES)


def _member_commit(
    message: PublicMessage, group: GroupState, resolve_reference: ProposalResolver | None
) -> Accepted:
    commit = _MemberCommit(message, group, resolve_reference)
    for _check, rule in _MEMBER_RULES:
        rule(commit)
    return Accepted(
        "member",
        checks=MEMBER_CHECKS,
        policy_writes=commit.policy_writes,
        membership_updates=commit.membership_updates,
    )


def validate_commit(
    commit: bytes,
    state: State,
    *,
    envelope_ns: int,
    epoch_start_ns: int,
    key_binding: KeyBinding | None = None,
    resolve_reference: ProposalResolver | None = None,
) -> Verdict:
    """Route a commit by sender: a member's to the tag rule, any other to checks 1–11."""
    group = _state(state)

    def route() -> Accepted:
        message = _decode(commit)
        is_member = message.content.sender.sender_type == SENDER_MEMBER
        if is_member and message.content.content_type == CONTENT_COMMIT:
            return _member_commit(message, group, resolve_reference)
        return _external_commit(message, group, envelope_ns, epoch_start_ns, key_binding)

    return _verdict(route)


__all__ = [
    "EXTERNAL_CHECKS",
    "MEMBER_CHECKS",
    "Accepted",
    "Check",
    "Code",
    "GroupState",
    "KeyBinding",
    "ProposalResolver",
    "Rejected",
    "State",
    "Verdict",
    "validate_commit",
    "validate_external_commit",
    "validate_member_commit",
]
