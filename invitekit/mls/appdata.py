"""The ``app_data_dictionary`` GroupContext extension: a generic, sorted component container.

Wire layout (draft-ietf-mls-extensions §4.6 "Attaching Application Data to MLS Messages";
OpenMLS ``AppDataDictionary``): extension type 0x0006 whose data is
``struct { ComponentData component_data<V>; }`` with
``ComponentData { uint16 component_id; opaque data<V>; }``; entries strictly increasing by
``component_id`` (sorted, at most one per id). This module knows no component: reading
XIP-82's EXTERNAL_COMMIT_POLICY out of it is :mod:`invitekit.groupinfo_policy`'s job.
"""

from __future__ import annotations

from .errors import InvalidAppData, MlsDecodeError
from .schema import AppDataDictionary, ComponentData
from .tls import decode_struct


def decode_app_data_dictionary(data: bytes) -> AppDataDictionary:
    """Decode extension data as an AppDataDictionary; ids must strictly increase."""
    try:
        value = decode_struct(AppDataDictionary, data)
    except MlsDecodeError as exc:
        raise InvalidAppData(f"app_data_dictionary does not decode: {exc}") from None
    previous = -1
    for entry in value.component_data:
        if entry.component_id <= previous:
            raise InvalidAppData(
                "app_data_dictionary entries not strictly sorted at component "
                f"{entry.component_id:#06x}"
            )
        previous = entry.component_id
    return value


def build_app_data_dictionary(entries: dict[int, bytes]) -> AppDataDictionary:
    """An AppDataDictionary with ``entries`` sorted by component id (for tests and tools)."""
    return AppDataDictionary(
        component_data=tuple(
            ComponentData(component_id=cid, data=entries[cid]) for cid in sorted(entries)
        )
    )


def component(dictionary: AppDataDictionary | None, component_id: int) -> bytes | None:
    """The data stored for ``component_id``, or None."""
    if dictionary is None:
        return None
    for entry in dictionary.component_data:
        if entry.component_id == component_id:
            return entry.data
    return None


__all__ = ["build_app_data_dictionary", "component", "decode_app_data_dictionary"]
