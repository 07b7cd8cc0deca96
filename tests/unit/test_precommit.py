"""XIP-82 join step 6 (invitekit.precommit) at its boundaries, and the one active-invite guard."""

from __future__ import annotations

import pytest

from invitekit.errors import PolicyNotEnabled
from invitekit.payload import InvitePayload
from invitekit.policy import ExternalCommitPolicy, active_invite, revoke
from invitekit.precommit import PrecommitCode, precommit_check, stale_qr

KEY = bytes(range(32))
SLOT = b"slot-0001"
QR = InvitePayload(SLOT, KEY)
NOW = 1_000


def policy(**kw: object) -> ExternalCommitPolicy:
    return ExternalCommitPolicy(
        allow_external_commit=True, symmetric_key=KEY, external_group_id=SLOT, **kw  # type: ignore[arg-type]
    )


def test_open_policy_passes() -> None:
    verdict = precommit_check(policy(), QR, NOW)
    assert verdict.ok
    assert verdict.code is None
    assert verdict.uses == 0
    assert verdict.stale.ok


def test_switch_off() -> None:
    assert precommit_check(revoke(policy()), QR, NOW).code is PrecommitCode.SWITCH_OFF


@pytest.mark.parametrize(
    ("now", "code"),
    [(NOW - 1, None), (NOW, PrecommitCode.POLICY_EXPIRED), (NOW + 1, PrecommitCode.POLICY_EXPIRED)],
)
def test_policy_expiry_boundary_is_now_ge_expires(now: int, code: PrecommitCode | None) -> None:
    assert precommit_check(policy(expires_at_ns=NOW), QR, now).code is code


def test_expires_zero_never_expires() -> None:
    assert precommit_check(policy(expires_at_ns=0), QR, 2**64 - 1).ok


@pytest.mark.parametrize(
    ("tagged", "code"),
    [(1, None), (2, PrecommitCode.MAX_USES_EXHAUSTED), (3, PrecommitCode.MAX_USES_EXHAUSTED)],
)
def test_max_uses_boundary(tagged: int, code: PrecommitCode | None) -> None:
    tags: list[bytes | None] = [SLOT] * tagged + [None, b"old-slot"]
    verdict = precommit_check(policy(max_uses=2), QR, NOW, tags)
    assert verdict.code is code
    assert verdict.uses == tagged  # untagged and other-slot members never count


def test_max_uses_zero_is_unlimited() -> None:
    assert precommit_check(policy(max_uses=0), QR, NOW, [SLOT] * 1000).ok


@pytest.mark.parametrize(
    ("qr", "id_ok", "key_ok"),
    [
        (InvitePayload(b"slot-0002", KEY), False, True),
        (InvitePayload(SLOT, bytes(32)), True, False),
        (InvitePayload(b"slot-0002", bytes(32)), False, False),
    ],
)
def test_stale_qr_names_the_moved_coordinate(qr: InvitePayload, id_ok: bool, key_ok: bool) -> None:
    verdict = precommit_check(policy(), qr, NOW)
    assert verdict.code is PrecommitCode.STALE_QR
    assert (verdict.stale.group_id_matches, verdict.stale.key_matches) == (id_ok, key_ok)
    assert stale_qr(policy(), qr) == verdict.stale


def test_order_is_the_xips() -> None:
    stale = InvitePayload(b"slot-0002", bytes(32))
    everything = policy(expires_at_ns=NOW, max_uses=1)
    # switch off beats all (a revoked policy has no key: it would also look stale)
    assert precommit_check(revoke(everything), stale, NOW, [SLOT]).code is PrecommitCode.SWITCH_OFF
    # then expiry, then max_uses, then the stale QR
    assert precommit_check(everything, stale, NOW, [SLOT]).code is PrecommitCode.POLICY_EXPIRED
    assert (
        precommit_check(everything, stale, NOW - 1, [SLOT]).code
        is PrecommitCode.MAX_USES_EXHAUSTED
    )
    assert precommit_check(everything, stale, NOW - 1, []).code is PrecommitCode.STALE_QR


def test_codes_are_the_xips_vocabulary() -> None:
    assert [str(c) for c in PrecommitCode] == [
        "no-policy",  # invitekit's: no policy known means the default, external commits off
        "switch-off",
        "policy-expired",
        "max-uses-exhausted",
        "stale-qr",
    ]


def test_active_invite_is_the_one_guard() -> None:
    live = active_invite(policy())
    assert (live.external_group_id, live.symmetric_key) == (SLOT, KEY)
    with pytest.raises(PolicyNotEnabled, match="cannot refresh"):
        active_invite(revoke(policy()), "refresh")
    with pytest.raises(PolicyNotEnabled):
        ExternalCommitPolicy().invite()
