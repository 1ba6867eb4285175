"""The hostile proxy itself: forwards, records, stalls, replaces and rewrites as told."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings
from lmbatch.testing.proxy import DROP, HostileProxy

StartProxy = Callable[[str | None], HostileProxy]
AUTH = {"Authorization": "Bearer secret-test-key"}
REQUEST = {
    "custom_id": "q1",
    "params": {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []},
}


def _create(client: httpx.Client) -> httpx.Response:
    return client.post(
        "/v1/messages/batches",
        json={"requests": [REQUEST]},
        headers={"x-api-key": "secret-test-key", "anthropic-version": "2023-06-01"},
    )


def test_forwards_and_records_every_call_with_its_headers(hostile_proxy: StartProxy) -> None:
    with Emulator() as emulator:
        proxy = hostile_proxy(emulator.base_url)
        with httpx.Client(base_url=proxy.url) as client:
            answer = client.get("/v1/batches?limit=3", headers=AUTH)
        assert answer.status_code == 200
        assert answer.json()["object"] == "list"
        (call,) = proxy.calls
        assert (call.method, call.path, call.query) == ("GET", "/v1/batches", "limit=3")
        assert call.headers["authorization"] == "Bearer secret-test-key"
        assert (call.status, call.upstream_status, call.rules) == (200, 200, [])
        assert proxy.calls_to("GET", "/v1/*") == [call]


def test_a_proxy_without_upstream_is_a_recording_foreign_host(
    hostile_proxy: StartProxy,
) -> None:
    foreign = hostile_proxy(None)
    foreign.on("GET", "/stolen/*").respond(200, {"ok": True})
    with httpx.Client(base_url=foreign.url) as client:
        assert client.get("/anything", headers=AUTH).status_code == 404
        assert client.get("/stolen/1").json() == {"ok": True}
    assert [call.path for call in foreign.calls] == ["/anything", "/stolen/1"]
    assert foreign.calls[0].headers["authorization"] == "Bearer secret-test-key"
    assert foreign.calls[0].upstream_status is None


def test_respond_replaces_the_answer_after_or_instead_of_forwarding(
    hostile_proxy: StartProxy,
) -> None:
    with Emulator() as emulator:
        proxy = hostile_proxy(emulator.base_url)
        html = {"content-type": "text/html"}
        proxy.on("POST", "/v1/messages/batches", nth=1).respond(
            200, "<html>hi</html>", headers=html
        )
        proxy.on("POST", "/v1/messages/batches", nth=2).respond(502, "bad", forward=False)
        with httpx.Client(base_url=proxy.url) as client:
            first, second, third = (_create(client) for _ in range(3))
        assert (first.status_code, first.text) == (200, "<html>hi</html>")
        assert first.headers["content-type"] == "text/html"
        assert second.status_code == 502
        assert third.status_code == 200
        assert third.json()["processing_status"] == "in_progress"
        # The first and third reached the emulator; the second never left the proxy.
        assert emulator.create_calls == 2
        assert [call.upstream_status for call in proxy.calls] == [200, None, 200]


def test_rewrite_sets_and_drops_fields_also_inside_lists(hostile_proxy: StartProxy) -> None:
    with Emulator() as emulator:
        proxy = hostile_proxy(emulator.base_url)
        with httpx.Client(base_url=proxy.url) as client:
            created = _create(client).json()
            proxy.on("GET", "/v1/messages/batches/*").rewrite(
                {"processing_status": "mystery", "request_counts.processing": 99},
                drop=["id"],
            )
            proxy.on("GET", "/v1/messages/batches").rewrite(
                {"data.*.results_url": "http://elsewhere.invalid/x", "first_id": DROP}
            )
            headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
            one = client.get(f"/v1/messages/batches/{created['id']}", headers=headers).json()
            listed = client.get("/v1/messages/batches", headers=headers).json()
    assert "id" not in one
    assert one["processing_status"] == "mystery"
    assert one["request_counts"]["processing"] == 99
    assert "first_id" not in listed
    assert [item["results_url"] for item in listed["data"]] == ["http://elsewhere.invalid/x"]


async def test_stall_holds_the_answer_after_the_upstream_acted_until_released(
    hostile_proxy: StartProxy,
) -> None:
    async with Emulator(EmulatorSettings(mode="manual")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        rule = proxy.on("POST", "/v1/messages/batches").stall(600)
        async with httpx.AsyncClient(base_url=proxy.url, timeout=60) as client:
            pending = asyncio.create_task(
                client.post(
                    "/v1/messages/batches",
                    json={"requests": [REQUEST]},
                    headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                )
            )
            await rule.stalled()
            assert emulator.create_calls == 1  # the vendor acted; only the answer is late
            assert not pending.done()
            proxy.release()
            answer = await pending
        assert answer.status_code == 200
        assert rule.stalling == 0


async def test_stall_before_forwarding_keeps_the_request_from_the_upstream(
    hostile_proxy: StartProxy,
) -> None:
    async with Emulator() as emulator:
        proxy = hostile_proxy(emulator.base_url)
        rule = proxy.on("POST", "/v1/messages/batches").stall(600, before_forwarding=True)
        async with httpx.AsyncClient(base_url=proxy.url, timeout=60) as client:
            pending = asyncio.create_task(
                client.post("/v1/messages/batches", json={"requests": [REQUEST]})
            )
            await rule.stalled()
            assert emulator.create_calls == 0
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending


def test_nth_selects_call_numbers(hostile_proxy: StartProxy) -> None:
    with Emulator() as emulator:
        proxy = hostile_proxy(emulator.base_url)
        rule = proxy.on("GET", "/v1/batches", nth=(2, 3)).respond(503, "busy", forward=False)
        with httpx.Client(base_url=proxy.url) as client:
            codes = [client.get("/v1/batches", headers=AUTH).status_code for _ in range(4)]
        assert codes == [200, 503, 503, 200]
        assert (rule.matched, rule.fired) == (4, 2)
    with pytest.raises(ValueError, match="1-based"):
        proxy.on("GET", "/", nth=0)
