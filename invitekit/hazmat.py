"""Hazardous materials: seal and open blobs **without** verifying the GroupInfo inside.

The recipes at the top of :mod:`invitekit` are what an application needs:
:func:`invitekit.seal_group_info` verifies the GroupInfo before it seals it, derives the
blob's metadata from it and takes the expiry from the policy; :func:`invitekit.open_and_verify`
verifies what it decrypts and checks that the blob's epoch and digest are the GroupInfo's.
The names below skip all of that: they seal whatever bytes they are given under whatever
metadata the caller states, and return plaintext that nobody has checked is a GroupInfo of
the group the invite names. Use them only to build a new recipe (as the join's candidate
triage does: it decrypts every candidate once, then verifies the one it picks with
:func:`invitekit.sealing.verify_opened`).

This module only gathers names; each stays defined where it belongs (and is imported from
there inside invitekit):

* any envelope — :func:`seal_envelope`, :func:`open_envelope`, :class:`EnvelopeKey`
  (:mod:`invitekit.envelope`);
* the XIP's v1 blob — :func:`seal`, :func:`open_blob`, :class:`BlobKey` (:mod:`invitekit.blob`);
* the HPKE extension variants — :func:`seal_hpke`, :func:`open_hpke`, :class:`HpkeKey`
  (:mod:`invitekit.hpke_blob`).
"""

from __future__ import annotations

from .blob import BlobKey, open_blob, seal
from .envelope import EnvelopeKey, open_envelope, seal_envelope
from .hpke_blob import HpkeKey, open_hpke, seal_hpke

__all__ = [
    "BlobKey",
    "EnvelopeKey",
    "HpkeKey",
    "open_blob",
    "open_envelope",
    "open_hpke",
    "seal",
    "seal_envelope",
    "seal_hpke",
]
