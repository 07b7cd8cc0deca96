"""Every process a test starts dies with the test run, however the run ends.

:func:`start` launches one small watchdog per pytest process (``tests/conftest.py`` calls it
at configure time). The watchdog runs in its own session, so a signal sent to the run's
process group (a CI timeout) does not reach it. It holds the read end of a pipe whose write
end only the pytest process holds; the kernel closes that end when pytest exits — normally,
by an exception, or by SIGKILL — and the watchdog wakes up (it also checks, twice a second,
that the pytest process still exists).

While the run lives, the watchdog takes a snapshot of the run's descendants from ``/proc``
twice a second: each process by (pid, start time), so a reused pid is never mistaken for
one of ours, and the sessions the descendants opened (``start_new_session=True``, as the
fresh-clone and README tests use). When the run ends it SIGKILLs every process it saw that
still lives, every process below one of them, and every process left in one of those
sessions. A process that daemonizes and starts a new session of its own within half a second
can still escape; the PostgreSQL launcher (``tests/integration/service/pg_local.py``) keeps
its own watchdog for that reason (``pg_ctl`` detaches the server), and the reaper spares a
watchdog whose code carries the line ``# invitekit: a watchdog the reaper spares``, so that
it can still stop its server and delete its directory.

Linux only (``/proc``); elsewhere :func:`start` does nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_WATCHDOG = r"""
import os, select, signal, sys

owner, me = int(sys.argv[1]), os.getpid()
SPARE = b"# invitekit: a watchdog the reaper spares"


def table():
    # pid -> (ppid, sid, start time) for every process visible now.
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        # fields[0] is the state; ppid, pgrp, session follow; starttime is field 22 of stat.
        out[int(name)] = (int(fields[1]), int(fields[3]), int(fields[19]))
    return out


def below(roots, procs):
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child != me and child not in found:
                found.add(child)
                todo.append(child)
    return found


procs = table()
_, own_sid, owner_start = procs.get(owner, (0, 0, 0))
seen, sessions = set(), set()
while True:
    ready, _, _ = select.select([sys.stdin], [], [], 0.5)
    if ready and not os.read(sys.stdin.fileno(), 4096):
        break  # the run ended: its end of the pipe is closed
    procs = table()
    if procs.get(owner, (0, 0, -1))[2] != owner_start:
        break  # the run is gone, though a forked child may still hold the pipe
    for pid in below([owner], procs):
        ppid, sid, start = procs[pid]
        seen.add((pid, start))
        if sid not in (own_sid, 0):
            sessions.add(sid)

for _ in range(3):  # again: a dying parent may have started one more child
    procs = table()
    ours = {pid for pid, (_, sid, start) in procs.items()
            if (pid, start) in seen or sid in sessions}
    ours |= below(ours, procs)
    ours.discard(me)
    for pid in ours:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if SPARE in f.read():
                    continue  # another watchdog, which cleans up after its own process

            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""

# The watchdog, and the pipe's write end, kept open until this process exits.
_started: list[tuple[subprocess.Popen[bytes], int]] = []


def start() -> None:
    """Start this process's watchdog (once; a no-op without ``/proc``)."""
    if _started or not Path("/proc/self/stat").exists():
        return
    read_end, write_end = os.pipe()
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid())],
        stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    os.close(read_end)
    _started.append((watchdog, write_end))  # non-inheritable: only this process holds it


def pytest_configure(config: object) -> None:
    """As a plugin (``-p tests.support.reaper``): start the watchdog for this run."""
    start()
