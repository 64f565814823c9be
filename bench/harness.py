"""Benchmark building blocks: run a connector's update() in-process with a counting sink against its
simulator on 127.0.0.1, replay the same requests in a bare loop, and measure peak memory in a child."""

from __future__ import annotations

import json
import multiprocessing
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from simulators.harness import LoggedRequest, Server
from synckit.sink import MemorySink
from tools.vendors import ROOT, Kit, connector


class CountingSink(MemorySink):
    """Counts operations and keeps nothing: the benchmark's stand-in for the SDK."""

    def __init__(self) -> None:
        super().__init__(keep_ops=False)

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        self.upserts += 1

    def checkpoint(self, state: dict[str, Any]) -> None:
        json.dumps(state)  # the SDK serialises state at every checkpoint
        self.checkpoints += 1
        self.state = state


@dataclass
class Run:
    rows: int
    seconds: float
    requests: int
    rate_limited: int
    state: dict

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def sync(kit: Kit, sim: Any, url: str, state: dict | None = None, **overrides: str) -> Run:
    module = connector(kit.name)
    state = {} if state is None else state
    sink = CountingSink()
    before = sim.count
    before_429 = sim.statuses().get(429, 0)
    started = time.perf_counter()
    module.update({**kit.config(sim, url), **overrides}, state, sink)
    seconds = time.perf_counter() - started
    return Run(sink.upserts, seconds, sim.count - before, sim.statuses().get(429, 0) - before_429, state)


class Remote:
    """A kit's simulator served by a child process, as a real API is served by other machines: its CPU does
    not share this process's interpreter with the connector's threads. ``log`` holds the requests it
    served once the context has closed."""

    def __init__(self, kit: Kit, size: int, large: bool = False):
        ctx = multiprocessing.get_context("spawn")
        self._ports, self._logs, self._stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        self._process = ctx.Process(target=_serve_kit, args=(kit.name, size, large, self._ports, self._stop,
                                                             self._logs), daemon=True)
        self.sim = kit.make(1)  # only for the configuration (credentials), which does not depend on size
        self.log: list[LoggedRequest] = []
        self.url = ""

    def __enter__(self) -> Remote:
        self._process.start()
        self.url = f"http://127.0.0.1:{self._ports.get(timeout=120)}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self.log = [LoggedRequest(*entry) for entry in self._logs.get(timeout=120)]
        finally:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()


def _serve_kit(name: str, size: int, large: bool, ports: Any, stop: Any, logs: Any) -> None:
    from tools.vendors import kits

    kit = kits([name])[name]
    sim = kit.extra.get("make_large", kit.make)(size) if large else kit.make(size)
    with Server(sim) as server:
        ports.put(server.port)
        stop.wait(3600)
        logs.put([(r.method, r.path, r.query, r.status) for r in sim.log])


def sync_remote(kit: Kit, remote: Remote, **overrides: str) -> Run:
    """One full sync against a remote simulator; requests are counted from its log afterwards."""
    sink = CountingSink()
    started = time.perf_counter()
    connector(kit.name).update({**kit.config(remote.sim, remote.url), **overrides}, {}, sink)
    return Run(sink.upserts, time.perf_counter() - started, 0, 0, {})


def bare_replay(kit: Kit, log: list[LoggedRequest], config: dict[str, Any], url: str, rows: int) -> Run:
    """Fetch the same successful GETs the connector made, with the connector's own HTTP client, and
    decode each body (JSON or CSV text): everything a connector must do, and nothing else."""
    requests_made = [r for r in log if r.method == "GET" and r.status == 200]
    http = kit.extra["http"](config)
    started = time.perf_counter()
    for r in requests_made:
        # Absolute URLs: a client whose base URL carries a path (Act!'s api_path) must not prefix it twice.
        response = http.get(url + r.path + ("?" + r.query if r.query else ""))
        if "json" in response.headers.get("Content-Type", ""):
            response.json()
        else:
            response.text.splitlines()
    seconds = time.perf_counter() - started
    return Run(rows, seconds, len(requests_made), 0, {})


def peak_rss_mb(kit: Kit, size: int) -> float:
    """Peak RSS (VmHWM) of a child process that runs one full sync of ``size`` records in the largest table.
    The simulator runs in a process of its own, so its memory is not counted and two measurements can run
    side by side without sharing an interpreter."""
    with Remote(kit, size, large=True) as remote:
        code = ("import sys; sys.path[:0] = ['src', '.']; from bench.harness import memory_child; "
                f"memory_child({kit.name!r}, {json.dumps(json.dumps(kit.config(remote.sim, remote.url)))})")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["rss_kb"] / 1024.0


def memory_child(name: str, config: str) -> None:
    """In the measured child: one full sync with a counting sink, then print rows and VmHWM as JSON."""
    from tools.vendors import kits

    kit = kits([name])[name]
    module = connector(name)
    if "unpaced" in kit.extra:
        kit.extra["unpaced"](module)  # pacing changes how long the sync takes, not what it holds in memory
    sink = CountingSink()
    module.update(json.loads(config), {}, sink)
    print(json.dumps({"rows": sink.upserts, "rss_kb": peak_kb()}))


def peak_kb() -> int:
    """This process's peak resident set (VmHWM). Unlike ru_maxrss, which Linux carries across exec and so
    reports the forking parent's size, VmHWM starts afresh with the new program."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def self_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
