"""Secrets and transport for every connector: no secret in any output at the most verbose level, in
state, in the warehouse or in crash reports; credentials never travel to another host."""

from __future__ import annotations

import random

import pytest
from werkzeug.wrappers import Request, Response

from simulators.harness import Server, SimApp, json_response
from synckit.errors import SyncError
from synckit.sink import MemorySink
from tools.e2e import ConnectorDir
from tools.vendors import connector, kits

KITS = kits()


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(KITS))
def test_no_secret_anywhere(name, tmp_path):
    kit = KITS[name]
    sim = kit.make(120)
    with Server(sim) as server:
        config = {**kit.config(sim, server.url), **kit.extra.get("debug_config", {})}
        secrets = kit.extra["secrets"](config, sim)
        assert secrets, "the kit names the secrets to look for"
        conn = ConnectorDir(name, tmp_path)
        first = conn.debug(config)
        assert first.returncode == 0, first.output[-2000:]
        kit.edit(sim, random.Random(1), 5)
        second = conn.debug(config)
        # A failing run too: its error path must not leak either.
        failing = conn.debug({**config, **kit.extra["wrong_credentials"]})
    assert failing.returncode != 0
    blobs = {"output": first.output + second.output + failing.output}
    files = conn.path / "files"
    for path in list(files.rglob("*")) + list(conn.path.glob("crash-reports/**/*")):
        if path.is_file():
            blobs[str(path.relative_to(conn.path))] = path.read_bytes().decode("latin-1")
    for secret in secrets + list(kit.extra["wrong_credentials"].values()):
        for where, text in blobs.items():
            assert secret not in text, f"a secret appears in {where}"


class Elsewhere(SimApp):
    """Another origin: records whatever credentials reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[dict] = []

    def handle(self, request: Request) -> Response:
        self.headers.append(dict(request.headers))
        return json_response({"ok": True})


class Redirecting:
    """Wraps a simulator: every request is redirected to another origin (token endpoints included)."""

    def __init__(self, app, target: str):
        self.app, self.target, self.count = app, target, 0

    def __call__(self, environ, start_response):
        self.count += 1
        if self.count > 0:
            request = Request(environ)
            response = Response("", 302, headers={"Location": self.target + request.full_path})
            return response(environ, start_response)
        return self.app(environ, start_response)


@pytest.mark.parametrize("name", sorted(KITS))
def test_redirect_to_another_host_gets_no_credentials(name):
    kit = KITS[name]
    sim = kit.make(30)
    other = Elsewhere()
    with Server(other) as elsewhere, Server(Redirecting(sim, elsewhere.url)) as server:
        config = kit.config(sim, server.url)
        with pytest.raises(SyncError, match="another origin"):
            connector(name).update(config, {}, MemorySink())
    assert other.headers == []
