"""The curated public API: ``invitekit.__all__`` and every public module's ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import invitekit
from invitekit.errors import InviteKitError

#: What a user needs from ``import invitekit`` (a floor: removing one is an API break).
REQUIRED = {
    "InvitePayload", "ExternalCommitPolicy", "EncryptedBlob", "parse_blob", "parse_envelope",
    "Envelope", "make_link", "parse_invite_text", "as_payload", "qr_for_link", "enable",
    "rotate", "revoke", "parse_policy_entry", "seal_group_info", "open_and_verify",
    "join_invite", "check_invite", "committer_refresh", "backstop_refresh", "deep_check",
    "JoinMachine", "RefreshMachine", "JoinOutcome", "Joined", "ReadyToCommit",
    "PrecommitAborted", "PrecommitCode", "precommit_check", "InviteKitError", "MlsError",
    "InviteClient", "CommitAccepted", "CommitRejected",
}

#: Sealing or opening without verifying the GroupInfo: ``invitekit.hazmat``, never the top.
HAZMAT = {
    "BlobKey": "invitekit.blob", "seal": "invitekit.blob", "open_blob": "invitekit.blob",
    "EnvelopeKey": "invitekit.envelope", "seal_envelope": "invitekit.envelope",
    "open_envelope": "invitekit.envelope", "HpkeKey": "invitekit.hpke_blob",
    "seal_hpke": "invitekit.hpke_blob", "open_hpke": "invitekit.hpke_blob",
}


#: Generated protobuf code.
_ELSEWHERE = {"proto"}


def public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(invitekit.__path__, "invitekit."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] in _ELSEWHERE:
            continue
        names.append(info.name)
    return sorted(names)


def test_top_level_all_imports_and_covers_the_essentials() -> None:
    exported = set(invitekit.__all__)
    assert exported >= REQUIRED
    assert len(invitekit.__all__) == len(exported)  # no duplicates
    for name in invitekit.__all__:
        assert getattr(invitekit, name) is not None, name
    assert not [n for n in exported if n.startswith("_") and n != "__version__"]


def test_unverified_seal_and_open_live_in_hazmat_only() -> None:
    import invitekit.hazmat as hazmat

    assert set(hazmat.__all__) == set(HAZMAT)
    for name, owner in HAZMAT.items():
        # A re-export namespace: the very object its owner module defines.
        assert getattr(hazmat, name) is getattr(importlib.import_module(owner), name), name
    assert not set(HAZMAT) & set(invitekit.__all__)
    assert not set(HAZMAT) & set(dir(invitekit))


@pytest.mark.parametrize("name", ["BlobKey", "EnvelopeKey", "open_blob", "open_envelope",
                                  "seal", "seal_envelope"])
def test_a_name_moved_to_hazmat_still_answers_with_a_warning(name: str) -> None:
    import invitekit.hazmat as hazmat

    with pytest.warns(DeprecationWarning, match=f"invitekit.hazmat.{name}"):
        assert getattr(invitekit, name) is getattr(hazmat, name)
    with pytest.raises(AttributeError):
        invitekit.no_such_name  # noqa: B018


@pytest.mark.parametrize("module_name", public_modules())
def test_every_public_module_declares_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    assert names is not None, f"{module_name} has no __all__"
    for name in names:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"
        assert not name.startswith("_"), f"{module_name}.__all__ exports private {name}"


def test_every_exported_error_has_a_stable_code() -> None:
    codes: dict[str, type] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, InviteKitError):
                code = value.__dict__.get("code")
                assert isinstance(code, str), f"{name} defines no code of its own"
                assert code, f"{name} has an empty code"
                assert codes.setdefault(code, value) is value, f"code {code} used twice"


def test_the_error_tree_drawing_names_every_error() -> None:
    import invitekit.errors as errors_module

    for info in pkgutil.walk_packages(invitekit.__path__, "invitekit."):
        importlib.import_module(info.name)
    seen: set[type] = set()
    todo: list[type] = [InviteKitError]
    while todo:
        cls = todo.pop()
        seen.add(cls)
        todo.extend(c for c in cls.__subclasses__() if c not in seen)
    drawing = errors_module.__doc__ or ""
    ours = [c for c in seen if c.__module__.startswith("invitekit")]
    missing = sorted(c.__name__ for c in ours if c.__name__ not in drawing)
    assert missing == []
