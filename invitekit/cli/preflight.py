"""Checks the CLI runs before it seals or sends a blob (issue 8, case 5: no zombie blobs).

* A blob whose effective expiry has already passed is refused (``blob-expired``): joiners
  would discard it, and a later clock would not make it joinable.
* A GroupInfo that carries an EXTERNAL_COMMIT_POLICY different from the policy file given
  gets a warning on stderr (``policy-mismatch``): the blob is sealed under the file's key
  and expiry, while joiners check the GroupInfo's own policy.
"""

from __future__ import annotations

import sys

from ..blob import expired_at
from ..envelope import SealedBlob
from ..errors import BlobExpired, InviteKitError
from ..expiry import effective_expiry
from ..groupinfo_policy import external_commit_policy
from ..mls import parse_group_info
from ..policy import ExternalCommitPolicy
from ..sources import system_clock
from ..times import NS_PER_S, format_duration, format_instant
from .render import blob_expired, policy_mismatch


def refuse_expired(expires_at_ns: int, now_ns: int, what: str) -> None:
    """Raise :class:`BlobExpired` when ``expires_at_ns`` is set and ``now_ns`` reached it."""
    if expired_at(expires_at_ns, now_ns):
        ago = format_duration((now_ns - expires_at_ns) // NS_PER_S * NS_PER_S)
        raise BlobExpired(blob_expired(what, ago, format_instant(expires_at_ns), expires_at_ns))


def check_blob_live(blob: SealedBlob, now_ns: int | None = None) -> None:
    """Refuse an already expired blob."""
    refuse_expired(blob.expires_at_ns, system_clock() if now_ns is None else now_ns, "the blob")


def preflight_seal(
    group_info: bytes, policy: ExternalCommitPolicy, epoch_start_ns: int, now_ns: int | None = None
) -> int:
    """Warn on a policy mismatch, refuse a blob that would be born expired; its expiry."""
    warn_policy_mismatch(group_info, policy)
    expires = effective_expiry(policy.expires_at_ns, epoch_start_ns, policy.expire_in_ns)
    refuse_expired(expires, system_clock() if now_ns is None else now_ns, "the sealed blob")
    return expires


def warn_policy_mismatch(group_info: bytes, policy: ExternalCommitPolicy) -> bool:
    """Print ``warning: policy-mismatch: …`` when the GroupInfo's own policy differs.

    Returns True when it warned. A GroupInfo that does not decode is left to the sealing
    step, which reports it with its typed error.
    """
    try:
        carried = external_commit_policy(parse_group_info(group_info).app_data)
    except InviteKitError:
        return False
    if carried is None or carried.policy == policy:
        return False
    differs = [
        name
        for name in (
            "allow_external_commit", "expires_at_ns", "expire_in_ns", "symmetric_key",
            "external_group_id", "max_uses", "refresh_pointers",
        )
        if getattr(carried.policy, name) != getattr(policy, name)
    ]
    print(f"warning: policy-mismatch: {policy_mismatch(differs)}", file=sys.stderr)
    return True


__all__ = [
    "check_blob_live",
    "preflight_seal",
    "refuse_expired",
    "warn_policy_mismatch",
]
