"""invitekit blob service: an aiohttp front over a storage backend (SQLite by default).

Layout (modules of this package): ``config`` (settings), ``admission`` (pure slot rules),
``storage`` (the backend interface and the SQLite and PostgreSQL backends), ``app`` (the
application factory) over ``handlers``, ``middleware``, ``requests``, ``headcache``, ``gc``
and ``state``, ``metrics`` (summed over worker processes), ``workers`` (one process, or
gunicorn's arbiter with aiohttp workers), ``cli`` (flags, settings, start-up errors),
``reference`` (the generated operator reference) and ``__main__`` (the ``invitekit-service``
entry point: standard library only until the service's dependencies are needed). The
source lives in the repository's ``service/`` folder; the wheel installs it under this name
only.
The HTTP protocol itself (routes, headers, codes, bodies) is :mod:`invitekit.protocol`.
"""
