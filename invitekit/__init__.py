"""invitekit: XMTP XIP-82 external commit invites — library, client and CLI.

The names below are the public API: the verified recipes (``seal_group_info`` verifies the
GroupInfo before sealing it, ``open_and_verify`` verifies what it decrypts, the join and
refresh flows do both). Sealing or opening a blob *without* verifying the GroupInfo
(``seal``, ``open_blob``, ``seal_envelope``, ``open_envelope`` and their key objects) is
:mod:`invitekit.hazmat`'s, a plainly named lower level. Everything else is reachable
through its module (``invitekit.<module>``, each with its own ``__all__``). Layers,
bottom up (see ARCHITECTURE.md):

* **core, sans-IO** — the invite (``payload``, ``link``, ``qr``, ``nfc``), the policy
  (``policy``, ``precommit``, ``groupinfo_policy``), blobs (``blob``, ``sealing``), RFC 9420
  primitives (``mls``), candidate selection (``selection``), the join machine (``join``)
  and the refresh roles (``refresh``). Pure functions of bytes and an explicit ``now_ns``;
  randomness is injected (``sources``);
* **drivers** — ``drivers``: run the machines' I/O over an :class:`InviteClient`;
* **shells** — the client (``client``), the CLI (``cli``) and the blob service
  (the separate ``service`` package).

Every error is an :class:`InviteKitError` with a stable ``code``; the tree is drawn in
:mod:`invitekit.errors`.
"""

from __future__ import annotations

import warnings as _warnings
from importlib import metadata as _metadata
from typing import Any as _Any

from . import hazmat as _hazmat
from .blob import EncryptedBlob, parse_blob
from .client import InviteClient
from .commit_pieces import Joiner, joiner_membership_update
from .drivers import (
    backstop_refresh,
    check_invite,
    committer_refresh,
    deep_check,
    join_invite,
)
from .envelope import Envelope, parse_envelope
from .errors import (
    BlobError,
    FlowStateError,
    InviteKitError,
    PolicyError,
    PolicyNotEnabled,
    TransportError,
    WireFormatError,
)
from .groupinfo_policy import PolicySource, read_policy
from .join import (
    AllExpired,
    AllUndecryptable,
    Joined,
    JoinMachine,
    JoinMode,
    JoinOptions,
    JoinOutcome,
    NoCandidates,
    NoValidCandidate,
    PrecommitAborted,
    ReadyToCommit,
    RejectedAfterForks,
)
from .link import as_payload, make_link, parse_invite_text
from .mls import GroupInfoView, VerifyLevel, parse_group_info
from .mls.errors import MlsError
from .needs import CommitAccepted, CommitRejected, CommitRequest
from .payload import InvitePayload, decode_payload, parse_payload
from .pointer import HttpsPointer, OpaquePointer
from .policy import (
    ExternalCommitPolicy,
    active_invite,
    enable,
    parse_policy_entry,
    revoke,
    rotate,
)
from .precommit import PrecommitCode, precommit_check
from .qr import qr_for_link, render_png, render_svg
from .refresh.backoff import Backoff
from .refresh.machine import RefreshMachine
from .refresh.reports import (
    RefreshMetrics,
    RefreshReport,
    RefreshStatus,
    SkipReason,
    TargetAction,
)
from .refresh.roles import RefreshRole
from .sealing import open_and_verify, seal_group_info


def _installed_version() -> str:
    """This distribution's version, as its metadata says (pyproject.toml owns the number)."""
    try:
        return _metadata.version("invitekit")
    except _metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"


__version__ = _installed_version()

#: Names that lived here before :mod:`invitekit.hazmat` (they decrypt or seal without
#: verifying the GroupInfo): still reachable, with a :class:`DeprecationWarning`.
_MOVED_TO_HAZMAT = frozenset(
    {"BlobKey", "EnvelopeKey", "open_blob", "open_envelope", "seal", "seal_envelope"}
)


def __getattr__(name: str) -> _Any:
    if name in _MOVED_TO_HAZMAT:
        _warnings.warn(
            f"invitekit.{name} is invitekit.hazmat.{name}: it seals or decrypts without "
            "verifying the GroupInfo (the verified recipes are invitekit.seal_group_info "
            "and invitekit.open_and_verify)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_hazmat, name)
    raise AttributeError(f"module 'invitekit' has no attribute {name!r}")

__all__ = [
    "AllExpired",
    "AllUndecryptable",
    "Backoff",
    "BlobError",
    "CommitAccepted",
    "CommitRejected",
    "CommitRequest",
    "EncryptedBlob",
    "Envelope",
    "ExternalCommitPolicy",
    "FlowStateError",
    "GroupInfoView",
    "HttpsPointer",
    "InviteClient",
    "InviteKitError",
    "InvitePayload",
    "JoinMachine",
    "JoinMode",
    "JoinOptions",
    "JoinOutcome",
    "Joined",
    "Joiner",
    "MlsError",
    "NoCandidates",
    "NoValidCandidate",
    "OpaquePointer",
    "PolicyError",
    "PolicyNotEnabled",
    "PolicySource",
    "PrecommitAborted",
    "PrecommitCode",
    "ReadyToCommit",
    "RefreshMachine",
    "RefreshMetrics",
    "RefreshReport",
    "RefreshRole",
    "RefreshStatus",
    "RejectedAfterForks",
    "SkipReason",
    "TargetAction",
    "TransportError",
    "VerifyLevel",
    "WireFormatError",
    "__version__",
    "active_invite",
    "as_payload",
    "backstop_refresh",
    "check_invite",
    "committer_refresh",
    "decode_payload",
    "deep_check",
    "enable",
    "join_invite",
    "joiner_membership_update",
    "make_link",
    "open_and_verify",
    "parse_blob",
    "parse_envelope",
    "parse_group_info",
    "parse_invite_text",
    "parse_payload",
    "parse_policy_entry",
    "precommit_check",
    "qr_for_link",
    "read_policy",
    "render_png",
    "render_svg",
    "revoke",
    "rotate",
    "seal_group_info",
]
