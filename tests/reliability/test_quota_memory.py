"""Rate-limit and quota bookkeeping costs constant memory per request, never per byte.

One address uploads blobs of about 4 MB, each to a fresh open slot, with the default budgets
on (the byte quotas charge each upload's size). The service's RSS growth must stay a small
fraction of the bytes sent: on the code that kept one moving-window entry per unit of cost,
16 such uploads grew the process by 1.0-1.4 GB (about 21 bytes of memory per byte sent).
An honest client from another address uploads after every attacker upload.

CI: 8 uploads. Issue size: ``RELIABILITY_SCALE=2`` (16 uploads).
"""

from __future__ import annotations

from .bounds import MIB, Honest, big_blob, memory, open_path, session_from
from .harness import env_float, record_figures

SCALE = env_float("RELIABILITY_SCALE", 1.0)


async def test_byte_quota_bookkeeping_does_not_grow_with_bytes(make_service) -> None:
    uploads = int(8 * SCALE)
    svc = make_service("--no-access-log")
    honest = Honest(svc.base_url, fresh_slots=True)
    statuses: dict[int, int] = {}
    sent = 0
    async with session_from("127.0.5.5") as attacker, session_from(honest.src) as http:
        await honest.upload(http)  # warm up: the first upload's code paths and buffers
        before = memory(svc.pid)
        peak_rss = before["rss"]
        for _ in range(uploads):
            body = big_blob(4_000_000)
            async with attacker.post(svc.base_url + open_path() + "/blobs", data=body) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            sent += len(body)
            peak_rss = max(peak_rss, memory(svc.pid)["rss"])
            await honest.upload(http)
        after = memory(svc.pid)
        lost = await honest.all_still_there(http)
    growth = max(peak_rss, after["rss"]) - before["rss"]
    figures = {
        "uploads": uploads, "bytes_sent": sent, "statuses": statuses,
        "rss_before_mib": round(before["rss"] / MIB, 1),
        "rss_peak_mib": round(max(peak_rss, after["peak"]) / MIB, 1),
        "rss_after_mib": round(after["rss"] / MIB, 1),
        "honest": f"{honest.accepted}/{honest.sent}", "lost": lost,
    }
    record_figures("quota-memory", figures)
    assert statuses == {201: uploads}, statuses  # within every default budget
    assert honest.accepted == honest.sent, honest.statuses
    assert lost == 0
    # The bound: whatever the quotas keep is independent of the bytes they count. The
    # process may hold a body or two and SQLite's page cache; never a multiple of the bytes.
    assert growth <= 48 * MIB + sent // 4, figures
