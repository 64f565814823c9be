"""Refused tokens: one renewal per refused token (not one per request or worker in flight), the sync going on
while the token endpoint issues working tokens, and a clear stop when renewed tokens keep being refused."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from simulators.accelo import AcceloSim
from simulators.harness import Server
from synckit import AuthError, RefreshingToken
from tests.test_accelo_connector import Warehouse, config

BASE = "companies,jobs,invoices"


def test_a_token_revoked_again_and_again_is_renewed_once_each_time_with_workers_in_flight():
    sim = AcceloSim({"companies": 900, "jobs": 300, "invoices": 300}, latency=0.004)
    with Server(sim) as server:
        cfg = config(server, page_size="20", max_workers="5", tables=BASE)
        house = Warehouse()
        start = sim.count
        revocations = (6, 20, 35, 50)  # each revokes every token issued so far, the renewed ones included
        for k in revocations:
            sim.scheduler.after(start + k, sim.expire_tokens)
        house.sync(cfg)
        assert sim.scheduler.pending == 0, "a revocation was scheduled after the sync ended"
        # The sync's first token, then exactly one renewal per revocation: the five workers that were refused
        # together share it.
        assert sim.tokens_issued == 1 + len(revocations)
        assert not house.problems(sim, tables=BASE.split(","))


def test_renewed_tokens_that_keep_being_refused_stop_the_sync_with_a_clear_error():
    sim = AcceloSim({"companies": 400}, latency=0.002)
    with Server(sim) as server:
        sim.scheduler.after(sim.count + 3, lambda: setattr(sim, "refuse_tokens", True))
        with pytest.raises(AuthError) as info:
            Warehouse().sync(config(server, page_size="20", max_workers="4", tables="companies"))
        assert "gave up after 3 renewed tokens in a row were refused" in str(info.value)
        assert sim.tokens_issued == 1 + 3  # bounded: three renewals, whatever the workers in flight


@pytest.mark.parametrize("seed", range(5))
def test_refreshing_token_renews_once_per_refused_token_under_concurrency(seed):
    """Threads refused with the same token trigger one fetch; a stale refusal never discards a newer token."""
    rng = random.Random(seed)
    issued: list[str] = []
    lock = threading.Lock()

    def fetch() -> tuple[str, float]:
        with lock:
            issued.append(f"t{len(issued)}")
            return issued[-1], 3600.0

    auth = RefreshingToken(fetch, max_renewals=3, useless_limit=3)
    first = auth.token()
    barrier = threading.Barrier(8)
    results: list[Any] = []

    def worker() -> None:
        barrier.wait()
        results.append(auth.invalidate(f"Bearer {first}"))
        auth.token()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results) and issued == ["t0", "t1"]
    assert auth.invalidate(f"Bearer {first}") and auth.token() == "t1"  # stale: t1 kept, no fetch
    auth.accepted()  # the workers' retries with t1 got through
    for _ in range(rng.randint(0, 2)):  # renewals that help reset the count
        assert auth.invalidate(f"Bearer {auth.token()}")
        auth.token()
        auth.accepted()
    for _ in range(3):
        assert auth.invalidate(f"Bearer {auth.token()}")
    assert not auth.invalidate(f"Bearer {auth.token()}")  # three useless renewals: give up
    assert "3 renewed tokens" in auth.refusal_note()
