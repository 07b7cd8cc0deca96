"""Build hook: the wheel carries spec/openapi.yaml inside the service package.

The service serves that document at /openapi.json (``invitekit_service.state.openapi_source``
finds the packaged copy, else the checkout's). Only a regular wheel gets the copy: an
editable install runs from the checkout, where spec/ is, so it needs none (and a copy in
site-packages would only go stale).
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: source in the repository (and the sdist) -> path inside the wheel
PACKAGED = {"spec/openapi.yaml": "invitekit_service/openapi.yaml"}


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Add :data:`PACKAGED` to regular (not editable) wheels."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"].update(PACKAGED)
