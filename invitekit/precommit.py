"""XIP-82 join step 6, the pre-commit policy check, and the stale-QR comparison of step 9.

One function, one vocabulary. :func:`precommit_check` answers "is a join against this
policy predictably doomed or unwanted?" with the first failing check, in the XIP's order:

0. :attr:`PrecommitCode.NO_POLICY` — no policy is known for the GroupInfo (none in it, none
   from the caller): external commits are off by default, so the join is refused
   (:func:`no_policy_verdict`; the join machine applies it);
1. :attr:`PrecommitCode.SWITCH_OFF` — ``allow_external_commit == false``;
2. :attr:`PrecommitCode.POLICY_EXPIRED` — ``expires_at_ns`` set and ``now_ns >= expires_at_ns``;
3. :attr:`PrecommitCode.MAX_USES_EXHAUSTED` — ``max_uses != 0`` and the GROUP_MEMBERSHIP
   entries tagged with the active ``external_group_id`` number ``max_uses`` or more
   (counted as validators count them, :func:`invitekit.policy.count_uses`). When the tags
   cannot be read (``membership_tags=None``) the count cannot run: ``uses`` is ``None``
   and the verdict says so (:attr:`PrecommitVerdict.uses_unknown`) — never a silent 0;
4. :attr:`PrecommitCode.STALE_QR` — the payload's ``external_group_id`` or key differs from
   the policy's (:func:`stale_qr`, constant time): the admin rotated after the QR was minted.

Step 9 reuses :func:`stale_qr` on the committed state's policy; there it only decides
whether to refresh (the joiner is already a member).
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from .payload import InvitePayload
from .policy import ExternalCommitPolicy, count_uses


class PrecommitCode(enum.StrEnum):
    """Why step 6 aborts a join before anything is published (XIP wording, XIP order)."""

    NO_POLICY = "no-policy"
    SWITCH_OFF = "switch-off"
    POLICY_EXPIRED = "policy-expired"
    MAX_USES_EXHAUSTED = "max-uses-exhausted"
    STALE_QR = "stale-qr"


@dataclass(frozen=True, slots=True)
class StaleQrCheck:
    """The QR's coordinates compared with a policy's (step 6 early, step 9 after commit)."""

    group_id_matches: bool
    key_matches: bool

    @property
    def ok(self) -> bool:
        """True when both the slot id and the key match."""
        return self.group_id_matches and self.key_matches


def stale_qr(policy: ExternalCommitPolicy, payload: InvitePayload) -> StaleQrCheck:
    """Compare (constant time) the payload's slot id and key with the policy's."""
    return StaleQrCheck(
        hmac.compare_digest(policy.external_group_id, payload.external_group_id),
        hmac.compare_digest(policy.symmetric_key or b"", payload.symmetric_key),
    )


@dataclass(frozen=True, slots=True)
class PrecommitVerdict:
    """The step-6 answer with the data behind it; ``code`` is None when the join may go on.

    ``uses`` is the live tagged-member count (``None``: the tags could not be read);
    ``stale`` the QR comparison; ``max_uses`` the policy's limit (0: unlimited).
    """

    code: PrecommitCode | None
    uses: int | None
    stale: StaleQrCheck
    max_uses: int = 0

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return self.code is None

    @property
    def uses_unknown(self) -> bool:
        """True when a ``max_uses`` limit is set but the uses could not be counted."""
        return self.max_uses != 0 and self.uses is None


def precommit_check(
    policy: ExternalCommitPolicy,
    payload: InvitePayload,
    now_ns: int,
    membership_tags: Iterable[bytes | None] | None = (),
) -> PrecommitVerdict:
    """XIP-82 join step 6 (order and codes in the module docstring).

    ``now_ns`` is the joiner's check instant (see :mod:`invitekit.join` for the one clock
    rule); ``membership_tags`` holds each member's ``admitted_via_external_group_id``, or is
    ``None`` when they cannot be read (the ``max_uses`` check is then not run).
    """
    uses = None if membership_tags is None else count_uses(policy, membership_tags)
    stale = stale_qr(policy, payload)
    code: PrecommitCode | None = None
    if not policy.allow_external_commit:
        code = PrecommitCode.SWITCH_OFF
    elif policy.expires_at_ns and now_ns >= policy.expires_at_ns:
        code = PrecommitCode.POLICY_EXPIRED
    elif policy.max_uses and uses is not None and uses >= policy.max_uses:
        code = PrecommitCode.MAX_USES_EXHAUSTED
    elif not stale.ok:
        code = PrecommitCode.STALE_QR
    return PrecommitVerdict(code, uses, stale, policy.max_uses)


def no_policy_verdict(payload: InvitePayload) -> PrecommitVerdict:
    """Step 6 when no policy is known: refused (the default policy has external commits off)."""
    return PrecommitVerdict(
        PrecommitCode.NO_POLICY, None, stale_qr(ExternalCommitPolicy(), payload)
    )


__all__ = [
    "PrecommitCode",
    "PrecommitVerdict",
    "StaleQrCheck",
    "no_policy_verdict",
    "precommit_check",
    "stale_qr",
]
