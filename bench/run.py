"""Benchmarks of our code (never of `fivetran debug`): each connector's update() runs in-process with a
counting sink against its simulator on 127.0.0.1. Figures are ratios measured in the same run.

    make bench                       # full run, rewrites bench/REPORT.md and bench/*.png
    python -m bench.run --smoke      # tiny sizes, prints only (used by the tests)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import Remote, bare_replay, peak_rss_mb, sync, sync_remote
from simulators.harness import Server, json_response
from tools.vendors import Kit, kits

HERE = Path(__file__).resolve().parent
MEMORY_RUNS_AT_ONCE = 3


def throughput(kit: Kit, size: int) -> dict[str, Any]:
    # Only tables whose requests a bare loop can replay as plain GETs (a report task is created by a POST).
    overrides = kit.extra.get("throughput_config", {})
    with Remote(kit, size) as remote:
        ours = sync_remote(kit, remote, **overrides)
    # The bare loop replays the same requests against a fresh, identical simulator: one whose caches are
    # as cold as the first one's were, so both loops pay the same serving cost.
    with Remote(kit, size) as twin:
        bare = bare_replay(kit, remote.log, {**kit.config(twin.sim, twin.url), **overrides}, twin.url, ours.rows)
    requests = sum(1 for r in remote.log if r.method == "GET" and r.status == 200)
    return {"size": size, "rows": ours.rows, "ours_rps": ours.rows_per_second, "bare_rps": bare.rows_per_second,
            "ratio": ours.rows_per_second / bare.rows_per_second if bare.rows_per_second else 0.0,
            "requests": requests}


def budget(kit: Kit, seconds: float) -> dict[str, Any] | None:
    """Share of the allowed requests a sync uses while a small limit is enforced, over whole windows: the run
    lasts a whole number of periods and, where windows are fixed to the clock, starts on a window boundary,
    so no window is only partly inside the run."""
    spec = kit.extra.get("budget")
    if spec is None:
        return None
    overrides = spec["overrides"]
    size = 20_000  # more than the window lets through: the run is cut by the time limit below
    sim = kit.make(size)
    spec["apply"](sim)
    limit, period = spec["limit"]
    kind = spec.get("windows", "aligned")
    periods = max(1, math.ceil(seconds / period - 1e-9))
    sim.scheduler.after(10**9, lambda: None)
    with Server(sim) as server:
        wall_start = time.time()
        if kind == "aligned":  # start on a boundary of the server's fixed windows (they follow the wall clock)
            wall_start += period - wall_start % period
            time.sleep(max(0.0, wall_start - time.time()))
        deadline = wall_start + periods * period
        # Stop the sync from inside by failing every request after the deadline: measure the window only.
        original = sim.handle

        def handle(request):
            if time.time() >= deadline:
                return json_response({"message": "benchmark over"}, 400)
            return original(request)

        sim.handle = handle
        try:
            sync(kit, sim, server.url, **overrides)
        except Exception:  # the deliberate 400 that ends the window
            pass
    counted = [r for r in sim.log if r.status != 400 and not r.exempt]
    sent = len(counted)
    # The windows the run [first arrival, deadline) touched; by construction `periods` of them.
    first = min((r.at for r in counted), default=wall_start)
    if kind == "aligned":
        windows = math.ceil(deadline / period - 1e-6) - math.floor(first / period)
    else:  # windows that start at the first request ("from_first"), or a rolling window ("rolling")
        windows = math.ceil((deadline - first) / period - 1e-6)
    allowed = limit * windows
    return {"limit": f"{limit} per {period:g}s", "seconds": periods * period, "sent": sent, "allowed": allowed,
            "used": sent / allowed if allowed else 0.0, "429s": sim.statuses().get(429, 0)}


def incremental(kit: Kit, size: int) -> dict[str, Any]:
    sim = kit.make(size)
    with Server(sim) as server:
        full = sync(kit, sim, server.url)
        kit.edit(sim, random.Random(1), max(1, size // 100))
        counted = kit.extra.get("counted")  # requests a daily budget counts, where some are exempt
        before = counted(sim) if counted else None
        second = sync(kit, sim, server.url, state=full.state)
        spent = counted(sim) - before if counted else None
    pages = full.requests
    return {"size": size, "full_requests": full.requests, "second_requests": second.requests,
            "share": second.requests / full.requests if full.requests else 0.0,
            "goal": math.ceil(0.01 * pages) + len(kit.keys), "second_counted": spent}


def workers(smoke: bool) -> list[dict[str, Any]] | None:
    try:
        from bench import accelo_workers
    except ImportError:
        return None
    sizes = (200, 0.01) if smoke else (20_000, 0.05)
    return [{"workers": w, **accelo_workers.measure(w, sizes[0], sizes[1])} for w in (1, 2, 4, 5, 8)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; print only")
    parser.add_argument("--only", nargs="*", help="connector names")
    parser.add_argument("--large", type=int, default=1_000_000, help="records for the large memory run")
    args = parser.parse_args(argv)
    chosen = kits(args.only)
    sizes = {"throughput": 300 if args.smoke else 20_000, "small": 200 if args.smoke else 10_000,
             "large": 2_000 if args.smoke else args.large, "incremental": 300 if args.smoke else 10_000,
             "budget_seconds": 3 if args.smoke else 12}
    began = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    for name, kit in chosen.items():
        results[name] = measure_kit(name, kit, sizes, args)
    memory_all(chosen, sizes, results)
    started = time.monotonic()
    scaling = workers(args.smoke) if (not args.only or "accelo" in args.only) else None
    if scaling:
        sizes["workers_seconds"] = time.monotonic() - started
        print(f"[accelo] workers {scaling} (workers: {sizes['workers_seconds']:.0f}s)", flush=True)
    if not args.smoke:
        from bench.report import write

        sizes["minutes"] = (time.monotonic() - began) / 60
        write(results, scaling, sizes, HERE)
        print(f"wrote {HERE / 'REPORT.md'}")
    return 0


def measure_kit(name: str, kit: Kit, sizes: dict[str, Any], args: Any) -> dict[str, Any]:
    """Throughput, incremental cost and budget use of one connector (memory runs after all of them)."""
    phase = Phases(name)
    print(f"[{name}] throughput...", flush=True)
    # Act! and Xurrent get smaller tables so the whole run fits about 15 minutes (Xurrent is paced by
    # its documented 20 requests per 2 s on both sides of the comparison).
    size = sizes["throughput"] if args.smoke else min(sizes["throughput"], kit.extra.get("bench_size", 10**9))
    r: dict[str, Any] = {"throughput": throughput(kit, size), "largest": kit.largest}
    phase.done("throughput", r["throughput"])
    size = sizes["incremental"] if args.smoke else min(sizes["incremental"], kit.extra.get("bench_size", 10**9))
    r["incremental"] = incremental(kit, size)
    phase.done("incremental", r["incremental"])
    notes = [kit.extra[key] for key in ("incremental_note", "budget_note") if kit.extra.get(key)]
    if notes:
        r["note"] = " ".join(notes)
    r["budget"] = budget(kit, sizes["budget_seconds"])
    phase.done("budget", r["budget"])
    r["seconds"] = phase.seconds
    return r


def memory_all(chosen: dict[str, Kit], sizes: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    """Peak RSS of every connector at both sizes, three measurements at a time: each one alternates between
    its simulator's process and its connector's, so one alone keeps about one core busy (two at a time kept
    1.5 of the 2 cores busy). Peak RSS is per process, so running side by side does not change it; the timed
    phases run before, alone."""
    started = time.monotonic()
    jobs = [(name, size) for size in (sizes["large"], sizes["small"]) for name in chosen]  # the long ones first
    with concurrent.futures.ThreadPoolExecutor(max_workers=MEMORY_RUNS_AT_ONCE) as pool:
        peaks = dict(zip(jobs, pool.map(lambda job: peak_rss_mb(chosen[job[0]], job[1]), jobs), strict=True))
    for name in chosen:
        small, large = peaks[(name, sizes["small"])], peaks[(name, sizes["large"])]
        results[name]["memory"] = {"small": sizes["small"], "large": sizes["large"], "small_mb": small,
                                   "large_mb": large, "delta_mb": large - small}
        print(f"[{name}] {results[name]['memory']}", flush=True)
    sizes["memory_seconds"] = time.monotonic() - started
    print(f"memory: {sizes['memory_seconds']:.0f}s", flush=True)


class Phases:
    """Prints each phase's result with the seconds it took, so the run's time can be accounted for."""

    def __init__(self, name: str):
        self.name, self.seconds = name, {}
        self._last = time.monotonic()

    def done(self, phase: str, result: Any) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(now - self._last, 1)
        self._last = now
        print(f"[{self.name}] {result} ({phase}: {self.seconds[phase]:.0f}s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
