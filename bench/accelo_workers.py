"""Accelo: rows per second with 1..N page workers against the simulator with per-request latency.

Runs the connector's sync in-process with a memory sink (never through `fivetran debug`), so it measures
our code plus the simulated network wait. Report ratios (5 workers vs 1), not absolute figures.

    python bench/accelo_workers.py            # 1, 2, 4, 5, 8 workers at 50 ms per request
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "src", ROOT):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from simulators.accelo import RESOURCES, AcceloSim  # noqa: E402
from simulators.harness import Server  # noqa: E402
from synckit.sink import MemorySink  # noqa: E402
from tools.vendors import connector  # noqa: E402


def load_connector() -> Any:
    return connector("accelo")


SERVERS = 2  # simulator processes sharing the port: a real API does not serve requests one at a time


def _serve(records: int, latency: float, port: int, ports: Any, stop: Any, counts: Any) -> None:
    """One simulator process, as a real API is: its CPU does not compete with the connector's. Several of them
    listen on one port (SO_REUSEPORT) and share a token, so their Python interpreters do not serialise the
    requests that the connector's workers send in parallel."""
    sizes = {name: 0 for name in RESOURCES}
    sizes["companies"] = records
    sim = AcceloSim(sizes, latency=latency, shared_token="benchmark-token")
    sim.truth("companies")  # generate the records before the clock starts
    with Server(sim, port, reuse_port=True) as server:
        ports.put(server.port)
        stop.wait(600)
        counts.put({"requests": sim.requests_to("/api/"), "token_requests": sim.requests_to("/oauth2/"),
                    "rate_limited": sim.statuses().get(429, 0)})


def measure(workers: int, records: int, latency: float, page_size: int = 100,
            servers: int = SERVERS) -> dict[str, Any]:
    """One first sync of ``records`` companies (the other tables empty) with ``workers`` page workers."""
    connector = load_connector()
    ctx = multiprocessing.get_context("spawn")
    ports, counts, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    processes = []
    try:
        port = 0
        for _ in range(servers):
            process = ctx.Process(target=_serve, args=(records, latency, port, ports, stop, counts), daemon=True)
            process.start()
            processes.append(process)
            port = ports.get(timeout=60)  # the first picks a free port; the others join it
        client_id, secret = next(iter(AcceloSim({}).clients.items()))
        configuration = {"deployment": "planet-express", "client_id": client_id, "client_secret": secret,
                         "base_url": f"http://127.0.0.1:{port}", "max_workers": str(workers),
                         "page_size": str(page_size), "rate_limit_reserve": "0"}
        sink = MemorySink(primary_keys={n: ("id",) for n in RESOURCES}, keep_ops=False)
        began = time.perf_counter()
        outcome = connector.run(configuration, {}, sink)
        seconds = time.perf_counter() - began
        table = next(t for t in outcome["result"].tables if t.table == "companies")
        stop.set()
        served = [counts.get(timeout=60) for _ in processes]
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    rows = sum(len(t) for t in sink.tables.values())
    totals = {key: sum(s[key] for s in served) for key in served[0]}
    # Two rates: the whole sync's (token and five empty tables, one round trip each, included) and the
    # companies table's own read, which is what the workers parallelise.
    return {"workers": workers, "records": records, "latency": latency, "rows": rows, "seconds": seconds,
            "rows_per_second": rows / seconds if seconds else float("inf"),
            "table_seconds": table.seconds, "table_rows_per_second": table.rows / table.seconds,
            "servers": servers, **totals}


def main() -> None:
    latency, records = 0.05, 20000
    results = {w: measure(w, records, latency) for w in (1, 2, 4, 5, 8)}
    print(f"Accelo connector, {records} companies, {latency * 1000:.0f} ms simulated latency per request")
    for w, r in results.items():
        print(f"  workers={w}: {r['rows_per_second']:9.0f} rows/s whole sync, {r['table_rows_per_second']:9.0f} "
              f"rows/s reading companies ({r['requests']} API requests, {r['token_requests']} token request)")
    for key in ("rows_per_second", "table_rows_per_second"):
        print(f"  ratio 5 workers vs 1 ({key}): {results[5][key] / results[1][key]:.2f}x")


if __name__ == "__main__":
    main()
