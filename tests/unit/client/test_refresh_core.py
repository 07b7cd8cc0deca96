"""The sans-IO refresh decisions: targets, committer plan, backstop, backoff, deep check."""

from __future__ import annotations

import os
import random

import pytest

from invitekit.blob import open_blob, parse_blob
from invitekit.errors import InvalidSetting, PolicyNotEnabled
from invitekit.mls import parse_group_info
from invitekit.needs import Upload
from invitekit.pointer import HttpsPointer, OpaquePointer
from invitekit.policy import ExternalCommitPolicy, revoke
from invitekit.refresh import (
    Backoff,
    BackstopAction,
    DeepAction,
    RefreshMachine,
    RefreshRole,
    backstop_decision,
    deep_check_decision,
    member_state,
    refresh_targets,
)
from invitekit.selection import Candidate
from tests.support.groupinfos import NOW, enabled_policy, rine, seal_gi

KEY = os.urandom(32)
SLOT = os.urandom(16)
A = HttpsPointer("https://a.example/v1")
B = HttpsPointer("https://b.example/v1")


def test_targets_put_the_scanned_slot_first_and_dedupe() -> None:
    policy = enabled_policy(
        KEY,
        SLOT,
        refresh_pointers=(B, HttpsPointer("https://a.example/v1/"), OpaquePointer(b"nfc")),
    )
    assert refresh_targets(policy, [A]) == (A, B, OpaquePointer(b"nfc"))
    assert refresh_targets(policy) == (
        B,
        HttpsPointer("https://a.example/v1/"),
        OpaquePointer(b"nfc"),
    )


def committer_upload(
    gi: bytes, policy: ExternalCommitPolicy, *, first: tuple[str, ...] = ()
) -> Upload:
    machine = RefreshMachine(
        RefreshRole.COMMITTER, gi, policy, NOW, NOW, first_services=first
    )
    need = machine.need
    assert isinstance(need, Upload)
    return need


def test_committer_seals_own_state_with_effective_expiry() -> None:
    day = 86_400 * 10**9
    policy = enabled_policy(
        KEY, SLOT, expire_in_ns=day, expires_at_ns=NOW + 10 * day, refresh_pointers=(B,)
    )
    gi = rine("rine-classic-epochs-e3")
    upload = committer_upload(gi, policy, first=(A.url,))
    assert upload.services == (A.url, B.url)
    assert upload.external_group_id == SLOT
    blob = parse_blob(upload.body).blob
    assert blob.epoch == 3
    assert blob.expires_at_ns == NOW + day
    assert blob.group_state_hash == parse_group_info(gi).digest
    assert open_blob(blob, KEY, NOW) == gi
    other = parse_blob(committer_upload(gi, policy).body).blob
    assert other.nonce != blob.nonce  # a fresh random nonce on every seal
    with pytest.raises(PolicyNotEnabled):
        committer_upload(gi, revoke(policy))


def test_backstop_stands_down_only_when_present() -> None:
    assert backstop_decision(True) is BackstopAction.STAND_DOWN
    assert backstop_decision(False) is BackstopAction.UPLOAD


def test_backoff_is_bounded_jittered_and_reproducible() -> None:
    backoff = Backoff(attempts=4, base_s=1.0, cap_s=3.0, jitter_s=10.0)
    one = backoff.schedule(random.Random(7).random)
    two = backoff.schedule(random.Random(7).random)
    assert one == two
    assert len(one) == 4
    assert 0 <= one[0] < 10.0
    assert all(0 <= d < cap for d, cap in zip(one[1:], (1.0, 2.0, 3.0), strict=True))
    spread = {round(Backoff().initial_delay(random.Random(s).random), 3) for s in range(50)}
    assert len(spread) > 40  # members do not all wake together
    with pytest.raises(InvalidSetting):
        Backoff(attempts=0)
    with pytest.raises(ValueError):  # InvalidSetting is also a ValueError
        Backoff(base_s=-1.0)


def test_member_state_is_the_local_pair() -> None:
    gi = rine("rine-classic-epochs-e4")
    state = member_state(gi)
    assert state.pair == (4, parse_group_info(gi).digest)


def test_deep_check_wants_a_valid_blob_at_the_members_pair() -> None:
    policy = enabled_policy(KEY, SLOT)
    state = member_state(rine("rine-classic-epochs-e4"))
    current = Candidate.of(seal_gi(rine("rine-classic-epochs-e4"), KEY).to_bytes())
    older = Candidate.of(seal_gi(rine("rine-classic-epochs-e3"), KEY).to_bytes())
    # Keyless junk stamped with the member's own pair: present by metadata, invalid by AEAD.
    junk = Candidate.of(seal_gi(rine("rine-classic-epochs-e4"), os.urandom(32)).to_bytes())
    healthy = deep_check_decision([older, junk, current], policy, state, NOW)
    assert healthy.action is DeepAction.HEALTHY
    assert healthy.valid_at_current
    flooded = deep_check_decision([older, junk], policy, state, NOW)
    assert flooded.action is DeepAction.REUPLOAD
    assert flooded.newest_valid_epoch == 3
    assert deep_check_decision([], policy, state, NOW).action is DeepAction.REUPLOAD
    with pytest.raises(PolicyNotEnabled):
        deep_check_decision([], ExternalCommitPolicy(), state, NOW)
