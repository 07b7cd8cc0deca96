"""invitekit: XIP-82 external commit invites.

One module per XIP concept — ``payload`` (the invite), ``policy`` (EXTERNAL_COMMIT_POLICY),
``blob`` (sealed GroupInfo, AAD), ``expiry`` (effective expiry), ``pointer`` (ServicePointer),
``wire`` (protobuf dialects), ``link``/``qr``/``nfc`` (transport), ``mls`` (GroupInfo decoding
and verification), ``lane`` (keyed-lane write proofs). Everything above is pure: no I/O.
"""

__version__ = "0.1.0"
