"""Seal a GroupInfo into a blob, and open + verify one, without trusting callers.

:func:`seal_group_info` derives ``epoch``, ``group_state_hash`` (:attr:`GroupInfoView.digest`)
and the effective expiry itself from the GroupInfo and the policy, then seals through
:func:`invitekit.envelope.seal_envelope` (the XIP's v1 unless an HPKE extension envelope is
asked for). :func:`open_and_verify` decrypts with the invite payload's key, then
:func:`verify_opened` verifies the GroupInfo up to a level and checks the XIP's consistency
rule: the decrypted epoch and GroupContext digest equal the blob's metadata. A reader that
already decrypted (the join's triage) calls :func:`verify_opened` on its plaintext directly,
so no blob is ever decrypted twice.

Compatibility: libxmtp branches put the key-schedule ``epoch_authenticator`` in
``group_state_hash``, which a joiner cannot recompute. ``accept_epoch_authenticator_digest``
accepts a digest mismatch for such blobs (the epoch must still match, the AEAD still binds
the metadata) and reports it in :attr:`OpenedGroupInfo.digest_verified`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .envelope import Envelope, SealedBlob, open_envelope, parse_envelope, seal_envelope
from .errors import BlobGroupInfoMismatch
from .mls import DEFAULT_OPTIONS, GroupInfoView, ParseOptions, VerifyLevel, parse_group_info
from .payload import InvitePayload
from .policy import ExternalCommitPolicy, active_invite
from .sources import RandomBytes, os_random_bytes


def seal_group_info(
    group_info: bytes,
    policy: ExternalCommitPolicy,
    epoch_started_at_ns: int,
    *,
    random_bytes: RandomBytes = os_random_bytes,
    verify: VerifyLevel = VerifyLevel.TREE,
    options: ParseOptions = DEFAULT_OPTIONS,
    envelope: Envelope = Envelope.V1,
) -> SealedBlob:
    """Seal a TLS MLSMessage(GroupInfo) under the policy's invite key.

    The GroupInfo is verified up to ``verify`` first (a sealer never uploads what a joiner
    would reject). ``expires_at_ns`` is ``policy.effective_expiry(epoch_started_at_ns)``.
    ``random_bytes`` supplies v1's 12-byte nonce (the OS CSPRNG unless a test injects one).
    ``envelope`` picks the blob version: v1 (the XIP's, readable by every XIP-82 reader) by
    default. Raises :class:`~invitekit.errors.PolicyNotEnabled` without an active invite.
    """
    invite = active_invite(policy, "seal a GroupInfo")
    view = parse_group_info(group_info, options)
    view.verify(verify)
    return seal_envelope(
        bytes(group_info),
        invite.symmetric_key,
        envelope=envelope,
        epoch=view.epoch,
        group_state_hash=view.digest,
        expires_at_ns=policy.effective_expiry(epoch_started_at_ns),
        random_bytes=random_bytes,
    )


@dataclass(frozen=True)
class OpenedGroupInfo:
    """A decrypted, verified GroupInfo and how it relates to the blob that carried it.

    ``digest_verified`` is True when ``blob.group_state_hash`` equals the GroupContext
    digest; it is False only when ``accept_epoch_authenticator_digest`` let a mismatch
    through (a libxmtp-style blob), which ``compat_note`` then explains.
    """

    view: GroupInfoView
    blob: SealedBlob
    level: VerifyLevel
    digest_verified: bool
    compat_note: str | None = None

    @property
    def group_info_bytes(self) -> bytes:
        """The plaintext MLSMessage(GroupInfo), ready for an MLS client's external join."""
        return self.view.raw


def open_and_verify(
    blob: SealedBlob | bytes,
    payload: InvitePayload,
    now_ns: int,
    *,
    level: VerifyLevel = VerifyLevel.TREE,
    accept_epoch_authenticator_digest: bool = False,
    options: ParseOptions = DEFAULT_OPTIONS,
) -> OpenedGroupInfo:
    """Decrypt ``blob`` (any envelope) with the payload's key, then :func:`verify_opened`.

    Raises the blob errors of :func:`invitekit.envelope.open_envelope` (expired, AEAD
    failure, ...), any :class:`~invitekit.mls.errors.MlsError` from verification, and
    :class:`BlobGroupInfoMismatch` when the epoch, or (strict mode) the digest, disagrees.
    """
    if isinstance(blob, bytes | bytearray | memoryview):
        parsed = parse_envelope(bytes(blob)).blob
    else:
        parsed = blob
    plaintext = open_envelope(parsed, payload.symmetric_key, now_ns)
    return verify_opened(
        plaintext,
        parsed,
        level=level,
        accept_epoch_authenticator_digest=accept_epoch_authenticator_digest,
        options=options,
    )


def verify_opened(
    plaintext: bytes,
    parsed: SealedBlob,
    *,
    level: VerifyLevel = VerifyLevel.TREE,
    accept_epoch_authenticator_digest: bool = False,
    options: ParseOptions = DEFAULT_OPTIONS,
) -> OpenedGroupInfo:
    """Verify the GroupInfo ``plaintext`` decrypted from ``parsed`` and check consistency.

    Raises any :class:`~invitekit.mls.errors.MlsError` from verification, and
    :class:`BlobGroupInfoMismatch` when the epoch, or (strict mode) the digest, disagrees.
    """
    view = parse_group_info(plaintext, options)
    view.verify(level)
    if view.epoch != parsed.epoch:
        raise BlobGroupInfoMismatch(
            f"GroupInfo epoch {view.epoch} differs from the blob's epoch {parsed.epoch}"
        )
    if view.digest == parsed.group_state_hash:
        return OpenedGroupInfo(view, parsed, level, digest_verified=True)
    if not accept_epoch_authenticator_digest:
        raise BlobGroupInfoMismatch("GroupContext digest differs from the blob's group_state_hash")
    return OpenedGroupInfo(
        view,
        parsed,
        level,
        digest_verified=False,
        compat_note=(
            "group_state_hash is not the GroupContext digest (libxmtp epoch_authenticator "
            "dialect); accepted unverified because accept_epoch_authenticator_digest=True"
        ),
    )


__all__ = ["OpenedGroupInfo", "open_and_verify", "seal_group_info", "verify_opened"]
