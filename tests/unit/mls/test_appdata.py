"""app_data_dictionary + EXTERNAL_COMMIT_POLICY in real ts-mls GroupInfos, and the XIP's
pre-commit check (invitekit.precommit) over the policy read from them."""

from __future__ import annotations

import json

import pytest

from invitekit.groupinfo_policy import PolicySource, external_commit_policy, read_policy
from invitekit.mls import (
    VerifyLevel,
    build_app_data_dictionary,
    component,
    decode_app_data_dictionary,
    parse_group_info,
)
from invitekit.mls.errors import InvalidAppData
from invitekit.mls.schema import EXTENSION_APP_DATA_DICTIONARY, Extension
from invitekit.payload import InvitePayload
from invitekit.policy import COMPONENT_ID, ExternalCommitPolicy, revoke
from invitekit.precommit import PrecommitCode, precommit_check

from .conftest import FIXTURES, by_name, rebuild, rine_key

POLICY = json.loads((FIXTURES / "ts-mls-gen" / "policy-entry.json").read_text())
KEY = bytes.fromhex(POLICY["symmetric_key_hex"])
SLOT = bytes.fromhex(POLICY["external_group_id_hex"])
NOW = 1_800_000_000 * 10**9


def test_component_id_is_the_xips() -> None:
    assert COMPONENT_ID == 0x800C


def test_ts_mls_group_info_carries_the_policy() -> None:
    view = parse_group_info(by_name("tsmls-small").data)
    view.verify(VerifyLevel.TREE)
    assert view.app_data is not None
    assert component(view.app_data, 0x800C) == bytes.fromhex(POLICY["entry_hex"])
    parsed = external_commit_policy(view.app_data)
    assert parsed is not None
    policy = parsed.policy
    assert policy.allow_external_commit
    assert policy.symmetric_key == KEY
    assert policy.external_group_id == SLOT
    assert policy.max_uses == POLICY["max_uses"]
    assert policy.expires_at_ns == POLICY["expires_at_ns"]


def test_precommit_ok_and_each_problem() -> None:
    read = read_policy(parse_group_info(by_name("tsmls-small").data))
    assert read.source is PolicySource.GROUP_INFO
    policy = read.policy
    assert policy is not None
    good = InvitePayload(SLOT, KEY)
    assert precommit_check(policy, good, NOW, [SLOT] * 0).ok
    assert precommit_check(policy, good, NOW, [SLOT] * 4).ok
    assert precommit_check(policy, good, NOW, [SLOT] * 5).code is PrecommitCode.MAX_USES_EXHAUSTED
    late = POLICY["expires_at_ns"]
    assert precommit_check(policy, good, late).code is PrecommitCode.POLICY_EXPIRED
    assert precommit_check(policy, good, late - 1).ok
    stale_slot = InvitePayload(b"\x01" * 16, KEY)
    slot_check = precommit_check(policy, stale_slot, NOW)
    assert slot_check.code is PrecommitCode.STALE_QR
    assert (slot_check.stale.group_id_matches, slot_check.stale.key_matches) == (False, True)
    stale_key = InvitePayload(SLOT, b"\x02" * 32)
    key_check = precommit_check(policy, stale_key, NOW)
    assert key_check.code is PrecommitCode.STALE_QR
    assert (key_check.stale.group_id_matches, key_check.stale.key_matches) == (True, False)
    # No dictionary at all: no policy is known (the check cannot run) ...
    assert read_policy(parse_group_info(by_name("rine-classic-small").data)).source is (
        PolicySource.NONE
    )
    # ... while a dictionary without the component means external commits are off.
    assert external_commit_policy(build_app_data_dictionary({0x0001: b"\x00"})) is None


def test_switch_off_policy_in_a_resigned_group_info() -> None:
    # Put a revoked policy into a real rine GroupInfo's context and re-sign it.
    fx = by_name("rine-classic-small")
    view = parse_group_info(fx.data)
    off = revoke(
        ExternalCommitPolicy(allow_external_commit=True, symmetric_key=KEY, external_group_id=SLOT)
    )
    dictionary = build_app_data_dictionary({COMPONENT_ID: off.to_entry_bytes(), 0x0001: b"\x00"})
    ext = Extension(
        extension_type=EXTENSION_APP_DATA_DICTIONARY, extension_data=dictionary.to_bytes()
    )
    data = rebuild(view, rine_key("rine-classic-small/creator"), extensions=(ext,))
    resigned = parse_group_info(data)
    resigned.verify(VerifyLevel.SIGNATURE)  # context changed but the signature is fresh
    read = read_policy(resigned)
    assert read.source is PolicySource.GROUP_INFO
    assert read.policy is not None
    result = precommit_check(read.policy, InvitePayload(SLOT, KEY), NOW)
    assert result.code is PrecommitCode.SWITCH_OFF
    assert resigned.digest != view.digest


@pytest.mark.parametrize(
    "body",
    [
        b"\x08\x80\x0c\x00\x00\x01\x00",  # unsorted (0x800c then 0x0001)
        b"\x06\x00\x01\x00\x00\x01\x00",  # duplicate id
        b"\x05\x00\x01\x00\x00\x01",  # truncated entry inside the vector
    ],
)
def test_bad_dictionaries(body: bytes) -> None:
    with pytest.raises(InvalidAppData):
        decode_app_data_dictionary(body)


def test_dictionary_round_trip() -> None:
    d = build_app_data_dictionary({0x800C: b"x", 0x0002: b"", 0x8000: b"yy"})
    assert [c.component_id for c in d.component_data] == [2, 0x8000, 0x800C]
    assert decode_app_data_dictionary(d.to_bytes()) == d
