"""Vendors come from plugins: a third-party vendor's routes are served, nothing is built in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lmbatch import hookimpl
from lmbatch._plugins import PluginLoadWarning, registry
from lmbatch.testing.emulator import (
    Emulator,
    EmulatorSettings,
    EmulatorVendor,
    EndpointFault,
    create_app,
    installed_vendors,
)


@dataclass
class PingOptions:
    greeting: str = "pong"


class PingEmulator(EmulatorVendor[PingOptions]):
    """A third party's vendor: one route, its own error shape, one option."""

    name = "ping"
    title = "Ping"
    base_path = "/ping/v2"
    path_prefixes = ("/ping/",)
    operations = frozenset({"ping"})
    options_class = PingOptions

    def routes(self) -> list[BaseRoute]:
        return [Route("/ping/v2/ping", self.ping, methods=["GET"])]

    def error_response(self, status: int, message: str | None = None) -> Response:
        return JSONResponse({"ping_error": message or "failed"}, status_code=status)

    def auth_error(self, request: Request) -> Response | None:
        if self.state.settings.require_auth and "x-ping-key" not in request.headers:
            return self.error_response(401, "x-ping-key missing")
        return None

    async def ping(self, request: Request) -> Response:
        async def action() -> Response:
            return JSONResponse({"answer": self.options.greeting})

        return await self.guarded(request, "ping", action)


class OtherPingEmulator(PingEmulator):
    pass


def _plugin(*vendors: Any, fail: bool = False) -> object:
    module = types.SimpleNamespace()

    @hookimpl
    def lmbatch_register_emulator_vendors(register: Callable[[Any], None]) -> None:
        if fail:
            raise RuntimeError("emulator routes need a missing package")
        for vendor in vendors:
            register(vendor)

    module.lmbatch_register_emulator_vendors = lmbatch_register_emulator_vendors
    return module


@pytest.fixture
def plugins() -> Iterator[Callable[[str, object], None]]:
    """Register plugins on the process registry for one test; remove them after it."""
    added: list[str] = []

    def add(name: str, plugin: object) -> None:
        registry.register_plugin(plugin, name)
        added.append(name)

    yield add
    for name in added:
        registry.unregister_plugin(name)


def test_a_plugin_vendor_is_served_beside_the_installed_ones(
    plugins: Callable[[str, object], None],
) -> None:
    plugins("lmbatch-ping", _plugin(PingEmulator))
    assert "ping" in {vendor.name for vendor in installed_vendors()}
    settings = EmulatorSettings(ping_greeting="hello")
    with Emulator(settings) as emu:
        assert emu.ping_base_url == emu.base_url + "/ping/v2"
        # Every installed vendor (openai, anthropic, and any other installed plugin's).
        assert emu.vendors == sorted({vendor.name for vendor in installed_vendors()})
        assert {"anthropic", "openai", "ping"} <= set(emu.vendors)
        ok = httpx.get(emu.ping_base_url + "/ping", headers={"x-ping-key": "k"})
        denied = httpx.get(emu.ping_base_url + "/ping")
        emu.faults.add(EndpointFault("ping", 503, nth=1, provider="ping"))
        faulted = httpx.get(emu.ping_base_url + "/ping", headers={"x-ping-key": "k"})
        unknown = httpx.get(emu.base_url + "/ping/v2/nothing", headers={"x-ping-key": "k"})
        openai_too = httpx.get(emu.openai_base_url + "/batches", headers={"Authorization": "B k"})
        calls = emu.calls
    assert ok.json() == {"answer": "hello"}
    assert (denied.status_code, denied.json()) == (401, {"ping_error": "x-ping-key missing"})
    assert (faulted.status_code, faulted.json()) == (503, {"ping_error": "failed"})
    # An unknown URL under the vendor's prefix answers in the vendor's own shape.
    assert unknown.status_code == 404
    assert "Unknown request URL: GET /ping/v2/nothing" in unknown.json()["ping_error"]
    assert openai_too.status_code == 401  # the installed vendors are still served
    assert [(c.provider, c.operation, c.status) for c in calls[:3]] == [
        ("ping", "ping", 200),
        ("ping", "ping", 401),
        ("ping", "ping", 503),
    ]


def test_a_removed_plugin_vendor_is_no_longer_served(
    plugins: Callable[[str, object], None],
) -> None:
    class GoneEmulator(PingEmulator):
        name = "gone"

    plugins("lmbatch-gone", _plugin(GoneEmulator))
    assert EndpointFault("ping", provider="gone").provider == "gone"
    registry.unregister_plugin("lmbatch-gone")
    assert "gone" not in {vendor.name for vendor in installed_vendors()}
    with pytest.raises(ValueError, match="unknown provider 'gone'"):
        EndpointFault("create", provider="gone")
    with pytest.raises(TypeError, match="gone_greeting"):
        EmulatorSettings(gone_greeting="hello")
    with Emulator(EmulatorSettings(require_auth=False)) as emu:
        gone = httpx.get(emu.base_url + "/ping/v2/ping")
        with pytest.raises(AttributeError):
            _ = emu.gone_base_url
    assert gone.status_code == 404
    assert "Unknown request URL: GET /ping/v2/ping" in gone.json()["error"]["message"]


async def test_an_emulator_without_vendors_serves_nothing_vendor_specific() -> None:
    app = create_app(EmulatorSettings(require_auth=False), vendors=[])
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://emulator"
        ) as client:
            batches = await client.get("/v1/batches")
            messages = await client.post("/v1/messages/batches", json={})
    finally:
        app.state.emulator.close()
    for response in (batches, messages):
        assert response.status_code in (404, 405)
        error = response.json()["error"]
        assert "no lmbatch provider with emulator routes installed" in error["message"]
        assert set(error) == {"message", "type"}  # the neutral shape, no vendor's
    assert "x-request-id" not in batches.headers


def installed_plugins() -> list[str]:
    """The entry-point names of every installed lmbatch plugin (each a provider's name)."""
    from importlib.metadata import entry_points

    return sorted({entry.name for entry in entry_points(group="lmbatch")})


def test_with_the_vendor_plugins_blocked_the_emulator_serves_no_vendor() -> None:
    """Vendors come only from installed plugins: block them and nothing is served."""
    script = """
import asyncio, json
import httpx
from lmbatch.testing.emulator import create_app, installed_vendors

async def main():
    app = create_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as client:
        answer = await client.get("/v1/batches", headers={"Authorization": "Bearer k"})
    app.state.emulator.close()
    vendors = [vendor.name for vendor in installed_vendors()]
    print(json.dumps([vendors, answer.status_code, answer.json()]))

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LMBATCH_DISABLE_PLUGINS": ",".join(installed_plugins())},
        check=True,
    )
    vendors, status, body = json.loads(done.stdout)
    assert vendors == []
    assert status == 404
    assert "Emulated vendors: none" in body["error"]["message"]


def test_a_broken_emulator_hook_is_reported_and_the_others_still_served(
    plugins: Callable[[str, object], None],
) -> None:
    plugins("lmbatch-broken", _plugin(fail=True))
    plugins("lmbatch-ping", _plugin(PingEmulator))
    with pytest.warns(PluginLoadWarning, match="emulator routes need a missing package"):
        names = {vendor.name for vendor in installed_vendors()}
    assert {"openai", "anthropic", "ping"} <= names


def test_register_refuses_what_is_not_a_named_vendor_class(
    plugins: Callable[[str, object], None],
) -> None:
    class Nameless(PingEmulator):
        name = ""

    plugins("lmbatch-nameless", _plugin(Nameless))
    plugins("lmbatch-notaclass", _plugin("ping"))
    with pytest.warns(PluginLoadWarning) as caught:
        names = {vendor.name for vendor in installed_vendors()}
    messages = " | ".join(str(warning.message) for warning in caught)
    assert "does not set `name`" in messages
    assert "takes an EmulatorVendor subclass" in messages
    assert "" not in names


def test_two_plugins_claiming_one_vendor_name_serve_neither(
    plugins: Callable[[str, object], None],
) -> None:
    plugins("lmbatch-ping", _plugin(PingEmulator))
    plugins("lmbatch-ping-fork", _plugin(OtherPingEmulator))
    with pytest.warns(PluginLoadWarning, match="both register emulator vendor 'ping'"):
        names = {vendor.name for vendor in installed_vendors()}
    assert "ping" not in names
    assert {"openai", "anthropic"} <= names


def test_vendor_options_are_checked_against_the_vendor() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        EmulatorSettings(bogus=1)
    with pytest.raises(TypeError, match="options of emulator vendor 'openai'"):
        Emulator(EmulatorSettings(openai_max_lines=3))
    with pytest.raises(ValueError, match="not served"):
        Emulator(EmulatorSettings(openai_max_requests=3), vendors=[PingEmulator])
    settings = EmulatorSettings(
        openai_max_requests=3, vendor_options={"anthropic": {"max_requests": 2}}
    )
    assert settings.vendor_options == {
        "openai": {"max_requests": 3},
        "anthropic": {"max_requests": 2},
    }
    with Emulator(settings) as emu:
        assert emu.state.vendors["openai"].options.max_requests == 3
        assert emu.state.vendors["anthropic"].options.max_requests == 2


def test_a_vendor_given_directly_is_served_and_its_faults_validate() -> None:
    # Not installed through a plugin: handed to the emulator, as a test of a plugin would.
    with Emulator(EmulatorSettings(require_auth=False), vendors=[PingEmulator]) as emu:
        assert emu.vendors == ["ping"]
        emu.faults.add(EndpointFault("ping", 429, provider="ping"))
        limited = httpx.get(emu.ping_base_url + "/ping")
        openai_gone = httpx.get(emu.base_url + "/v1/batches")
    assert limited.status_code == 429
    assert openai_gone.status_code == 404
    assert "Emulated vendors: ping" in openai_gone.json()["error"]["message"]


def test_lmbatch_emulator_serves_every_installed_vendor(
    plugins: Callable[[str, object], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    typer_testing = pytest.importorskip("typer.testing")
    from lmbatch.cli._app import app
    from lmbatch.testing import emulator

    plugins("lmbatch-ping", _plugin(PingEmulator))
    served: list[EmulatorSettings] = []
    monkeypatch.setattr(emulator, "serve", lambda **kwargs: served.append(kwargs["settings"]))
    monkeypatch.setenv("COLUMNS", "300")
    result = typer_testing.CliRunner().invoke(
        app, ["emulator", "--port", "8089", "--fault", "ping=503,provider=ping"]
    )
    assert result.exit_code == 0, result.stderr
    banner = " ".join(result.stderr.split())
    assert "Ping base_url http://127.0.0.1:8089/ping/v2" in banner
    assert "OpenAI base_url http://127.0.0.1:8089/v1" in banner
    assert "Anthropic base_url http://127.0.0.1:8089," in banner
    (settings,) = served
    assert settings.endpoint_faults == [EndpointFault("ping", 503, provider="ping")]


class DeclaredPingEmulator(EmulatorVendor[None]):
    """A vendor that only declares its bearer auth and its error envelope."""

    name = "declared"
    path_prefixes = ("/declared/",)
    operations = frozenset({"ping"})
    bearer_auth_message = "No key"

    def routes(self) -> list[BaseRoute]:
        return [Route("/declared/ping", self.ping, methods=["GET"])]

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"problem": {"status": status, "text": message}}

    async def ping(self, request: Request) -> Response:
        async def action() -> Response:
            return JSONResponse({"answer": "pong"})

        return await self.guarded(request, "ping", action)


def test_bearer_auth_and_the_error_shape_are_declarations(
    plugins: Callable[[str, object], None],
) -> None:
    plugins("lmbatch-declared", _plugin(DeclaredPingEmulator))
    with Emulator() as emu:
        url = emu.base_url + "/declared/ping"
        ok = httpx.get(url, headers={"Authorization": "Bearer k"})
        denied = httpx.get(url, headers={"Authorization": "Basic k"})
        emu.faults.add(EndpointFault("ping", 429, nth=1, provider="declared"))
        limited = httpx.get(url, headers={"Authorization": "Bearer k"})
    with Emulator(EmulatorSettings(require_auth=False)) as open_emu:
        keyless = httpx.get(open_emu.base_url + "/declared/ping")
    assert ok.json() == {"answer": "pong"}
    assert (denied.status_code, denied.json()) == (
        401,
        {"problem": {"status": 401, "text": "No key"}},
    )
    assert limited.status_code == 429
    assert limited.json() == {"problem": {"status": 429, "text": "Request refused"}}
    assert limited.headers["retry-after"] == "0"
    assert keyless.json() == {"answer": "pong"}
