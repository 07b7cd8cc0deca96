"""invitekit blob service: an aiohttp front over a storage backend (SQLite by default).

Layout: :mod:`service.config` (settings), :mod:`service.admission` (pure slot rules),
:mod:`service.storage` (the backend interface and the SQLite backend), :mod:`service.app`
(routes and middlewares), :mod:`service.__main__` (the ``invitekit-service`` entry point).
"""
