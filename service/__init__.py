"""invitekit blob service: an aiohttp front over a storage backend (SQLite by default).

Layout: :mod:`service.config` (settings), :mod:`service.admission` (pure slot rules),
:mod:`service.storage` (the backend interface and the SQLite backend), :mod:`service.app`
(the application factory) over :mod:`service.handlers`, :mod:`service.middleware`,
:mod:`service.requests`, :mod:`service.headcache`, :mod:`service.gc` and
:mod:`service.state`, and :mod:`service.__main__` (the ``invitekit-service`` entry point).
The HTTP protocol itself (routes, headers, codes, bodies) is :mod:`invitekit.protocol`.
"""
