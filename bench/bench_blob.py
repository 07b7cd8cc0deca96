"""Seal+open throughput of invitekit's blob v1 next to the raw `cryptography` AEAD.

Run: .venv/bin/python bench/bench_blob.py
Both columns process the same plaintext in the same process. The raw baseline is the
strictest one: one pre-built ChaCha20Poly1305 object, encrypt + decrypt with a fresh random
nonce and a 48-byte AAD. invitekit is measured twice, both with a reusable ``BlobKey`` (the
API for sealing/opening more than one blob under a key):

* ``seal+open``: ``seal`` then ``open_blob`` on the blob object — the issue's target;
* ``wire trip``: seal -> serialize (protobuf) -> parse -> open, what an uploader and a joiner
  pay end to end.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from invitekit.blob import BlobKey, open_blob, seal

KEY = os.urandom(32)
DIGEST = os.urandom(32)
AAD = os.urandom(48)
TARGETS = {1024: 0.50, 1024 * 1024: 0.90}


def rate(fn: Callable[[], object], size: int, seconds: float = 1.0, rounds: int = 5) -> float:
    """Median MiB/s of ``fn`` over ``rounds`` rounds of about ``seconds`` each."""
    results = []
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / rounds:
            fn()
            n += 1
        results.append(n * size / elapsed / 2**20)
    return statistics.median(results)


def raw_round_trip(cipher: ChaCha20Poly1305, plaintext: bytes) -> Callable[[], object]:
    """Encrypt + decrypt with the bare AEAD, fresh nonce each time."""

    def run() -> object:
        nonce = os.urandom(12)
        return cipher.decrypt(nonce, cipher.encrypt(nonce, plaintext, AAD), AAD)

    return run


def seal_open(key: BlobKey, plaintext: bytes) -> Callable[[], object]:
    """invitekit seal then open on the blob object."""

    def run() -> object:
        return open_blob(seal(plaintext, key, epoch=7, group_state_hash=DIGEST), key, now_ns=0)

    return run


def wire_trip(key: BlobKey, plaintext: bytes) -> Callable[[], object]:
    """seal -> serialize -> parse -> open."""

    def run() -> object:
        data = seal(plaintext, key, epoch=7, group_state_hash=DIGEST).to_bytes()
        return open_blob(data, key, now_ns=0)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description="blob seal/open throughput")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per rate measurement")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, {platform.machine()}")
    print(f"{'size':>8} {'raw MiB/s':>10} {'seal+open':>10} {'ratio':>6} {'wire trip':>10} "
          f"{'ratio':>6} {'target':>7}")
    key = BlobKey(KEY)
    for size, target in TARGETS.items():
        plaintext = os.urandom(size)
        sealed = seal(plaintext, KEY, epoch=1, group_state_hash=DIGEST).to_bytes()
        assert open_blob(sealed, KEY, 0) == plaintext
        r_raw = rate(raw_round_trip(ChaCha20Poly1305(KEY), plaintext), size, args.seconds)
        r_so = rate(seal_open(key, plaintext), size, args.seconds)
        r_wire = rate(wire_trip(key, plaintext), size, args.seconds)
        verdict = "ok" if r_so / r_raw >= target else "MISS"
        print(f"{size:>8} {r_raw:>10.1f} {r_so:>10.1f} {r_so / r_raw:>6.2f} {r_wire:>10.1f} "
              f"{r_wire / r_raw:>6.2f} {target:>6.0%} {verdict}")

if __name__ == "__main__":
    main()
