"""Which services a CLI command talks to: ``--service`` overrides, pointers, loopback links.

Rules (one owner for the CLI):

* ``--service/-s`` given → exactly those services, for fetching and for uploading; every
  pointer the invite or the policy names is ignored.
* Otherwise an ``https_url`` pointer is used as is; an opaque pointer goes to the CLI's
  resolver, which knows one form only: a **loopback pointer**, the UTF-8 text of a plain
  ``http`` URL on 127.0.0.1/::1/localhost, written by ``mint --allow-insecure-loopback``
  for local walkthroughs (the wire's ``https_url`` stays https-only, so such a link is an
  opaque pointer to every other reader). It is resolved only under
  ``--allow-insecure-loopback``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..client import FetchPolicy, api_root
from ..client.errors import UnresolvablePointer
from ..drivers import Resolver
from ..pointer import HttpsPointer, OpaquePointer, ServicePointer
from .render import needs_service

_HTTP = "http://"


def check_urls(urls: Sequence[str] | None, loopback: bool) -> tuple[str, ...]:
    """Refuse bad service URLs up front, under the client's own hygiene rules."""
    policy = FetchPolicy(allow_insecure_loopback=loopback)
    for url in urls or ():
        api_root(url, policy)
    return tuple(urls or ())


def service_pointer(url: str, loopback: bool) -> ServicePointer:
    """The pointer ``mint`` writes: https as is; loopback http as a loopback pointer."""
    if url.lower().startswith(_HTTP):
        check_urls([url], loopback)  # refuses unless loopback and the flag is given
        return OpaquePointer(url.encode())
    return HttpsPointer(url)


def loopback_url(pointer: ServicePointer | None) -> str | None:
    """The http URL a loopback pointer holds, or None for any other pointer."""
    if not isinstance(pointer, OpaquePointer) or not pointer.data.startswith(_HTTP.encode()):
        return None
    try:
        return pointer.data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def make_resolver(overrides: Sequence[str], loopback: bool, *, strict: bool = True) -> Resolver:
    """The CLI's resolver: the overrides if any, else loopback pointers (flag permitting).

    ``strict``: an opaque pointer it cannot resolve raises ``UnresolvablePointer`` (a join);
    otherwise it resolves to nothing (a refresh target that is skipped).
    """

    async def resolve(pointer: OpaquePointer | None) -> list[str]:
        if overrides:
            return list(overrides)
        url = loopback_url(pointer)
        if url is None:
            if not strict:
                return []
            raise UnresolvablePointer(needs_service(pointer is not None))
        check_urls([url], loopback)
        return [url]

    return resolve


__all__ = [
    "check_urls",
    "loopback_url",
    "make_resolver",
    "service_pointer",
]
