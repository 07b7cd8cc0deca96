"""Strict MLS (RFC 9420) GroupInfo decoding and verification for XIP-82 invites.

``parse_group_info`` decodes an MLSMessage(GroupInfo) strictly (level 1);
``GroupInfoView.verify`` checks the GroupInfo signature (level 2), the tree hash (level 3)
and optionally parent hashes (level 4). ``GroupInfoView.digest`` is XIP-82's
``group_state_hash``. :mod:`invitekit.mls.sealing` seals and opens blobs around it.
"""

from __future__ import annotations

from .appdata import (
    EXTERNAL_COMMIT_POLICY_COMPONENT,
    PrecommitCheck,
    PrecommitProblem,
    build_app_data_dictionary,
    component,
    decode_app_data_dictionary,
    external_commit_policy,
    precommit_check,
)
from .groupinfo import (
    DEFAULT_OPTIONS,
    ExternalPubEncoding,
    GroupInfoView,
    ParseOptions,
    VerifyLevel,
    parse_group_info,
    verify_group_info,
)
from .sealing import OpenedGroupInfo, open_and_verify, seal_group_info
from .suites import SUITES, CipherSuite, suite
from .tls import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_OPTIONS",
    "EXTERNAL_COMMIT_POLICY_COMPONENT",
    "SUITES",
    "CipherSuite",
    "ExternalPubEncoding",
    "GroupInfoView",
    "Limits",
    "OpenedGroupInfo",
    "ParseOptions",
    "PrecommitCheck",
    "PrecommitProblem",
    "VerifyLevel",
    "build_app_data_dictionary",
    "component",
    "decode_app_data_dictionary",
    "external_commit_policy",
    "open_and_verify",
    "parse_group_info",
    "precommit_check",
    "seal_group_info",
    "suite",
    "verify_group_info",
]
