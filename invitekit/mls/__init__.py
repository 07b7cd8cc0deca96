"""RFC 9420 primitives: strict TLS decoding of GroupInfo, suites, signature and tree checks.

``parse_group_info`` decodes an MLSMessage(GroupInfo) strictly (level 1);
``GroupInfoView.verify`` checks the GroupInfo signature (level 2), the tree hash (level 3)
and optionally parent hashes (level 4). ``GroupInfoView.digest`` is the suite's hash of the
TLS-serialized GroupContext (XIP-82's ``group_state_hash``). The generic
``app_data_dictionary`` container (draft-ietf-mls-extensions) is decoded here; what XIP-82
stores in it is read one layer up (:mod:`invitekit.groupinfo_policy`, :mod:`invitekit.sealing`).
Nothing here knows about invites.
"""

from __future__ import annotations

from .appdata import build_app_data_dictionary, component, decode_app_data_dictionary
from .groupinfo import (
    DEFAULT_OPTIONS,
    ExternalPubEncoding,
    GroupInfoView,
    ParseOptions,
    VerifyLevel,
    parse_group_info,
    verify_group_info,
)
from .suites import SUITES, CipherSuite, suite
from .tls import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_OPTIONS",
    "SUITES",
    "CipherSuite",
    "ExternalPubEncoding",
    "GroupInfoView",
    "Limits",
    "ParseOptions",
    "VerifyLevel",
    "build_app_data_dictionary",
    "component",
    "decode_app_data_dictionary",
    "parse_group_info",
    "suite",
    "verify_group_info",
]
