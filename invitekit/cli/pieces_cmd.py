"""``invitekit membership-update``: the joiner's own piece of the XIP's atomic commit.

Prints the ``AppDataUpdate`` proposal (openmls wire form, no outer length) that inserts the
joiner's ``GROUP_MEMBERSHIP`` entry tagged with the invite's slot id, as hex
(``--json``: ``{"proposal": "<hex>"}``). The rule is :mod:`invitekit.commit_pieces`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..commit_pieces import membership_update_bytes
from .errors import cli_errors
from .io import emit_json
from .options import JsonOpt, parse_hex


@cli_errors
def membership_update_cmd(
    inbox_id: Annotated[
        str, typer.Option("--inbox-id", metavar="HEX", help="The joiner's inbox id (32 bytes).")
    ],
    slot_id: Annotated[
        str,
        typer.Option(
            "--slot-id", metavar="HEX", help="The invite's external_group_id (4 bytes or more)."
        ),
    ],
    sequence_id: Annotated[
        int,
        typer.Option(
            "--sequence-id", metavar="N", help="The joiner inbox's identity-update sequence id."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Print the AppDataUpdate proposal inserting the joiner's own GROUP_MEMBERSHIP entry.

    The XIP's external commit carries it beside the ExternalInit (and the joiner's Adds);
    the entry is tagged with the slot id, which members compare with the active one.
    """
    proposal = membership_update_bytes(
        parse_hex(inbox_id, "--inbox-id"), sequence_id, parse_hex(slot_id, "--slot-id")
    )
    if as_json:
        emit_json({"proposal": proposal.hex()})
    else:
        print(proposal.hex())


__all__ = ["membership_update_cmd"]
