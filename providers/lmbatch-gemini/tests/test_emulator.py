"""The Gemini emulator answers as the Gemini API does (checked with raw HTTP calls)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from lmbatch_gemini._emulator import GeminiEmulator

from lmbatch.testing.emulator import Emulator

MODEL = "gemini-2.5-flash"
REQUEST = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"x-goog-api-key": "k"}
    async with httpx.AsyncClient(base_url=emulator.gemini_base_url, headers=headers) as c:
        yield c


def inline(*requests: dict[str, Any], **batch: Any) -> dict[str, Any]:
    entries = [{"request": r, "metadata": {"key": f"k{i}"}} for i, r in enumerate(requests)]
    return {"batch": {"inputConfig": {"requests": {"requests": entries}}, **batch}}


async def test_an_inline_batch_from_create_to_results(
    client: httpx.AsyncClient, gemini: GeminiEmulator
) -> None:
    created = await client.post(
        f"/v1beta/models/{MODEL}:batchGenerateContent", json=inline(REQUEST)
    )
    assert created.status_code == 200
    operation = created.json()
    name = operation["name"]
    assert name.startswith("batches/")
    assert operation["metadata"]["state"] == "BATCH_STATE_PENDING"
    assert operation["metadata"]["batchStats"] == {"requestCount": "1", "pendingRequestCount": "1"}
    assert "done" not in operation
    gemini.state.finish(name)
    done = (await client.get(f"/v1beta/{name}")).json()
    assert done["done"] is True
    assert done["metadata"]["batchStats"] == {"requestCount": "1", "successfulRequestCount": "1"}
    (entry,) = done["response"]["inlinedResponses"]["inlinedResponses"]
    assert entry["metadata"] == {"key": "k0"}
    assert entry["response"]["candidates"][0]["content"]["parts"] == [{"text": "echo: hi"}]
    assert done["metadata"]["output"] == {k: v for k, v in done["response"].items() if k != "@type"}
    assert (await client.delete(f"/v1beta/{name}")).status_code == 200
    assert (await client.get(f"/v1beta/{name}")).status_code == 404


async def test_a_resumable_upload_and_a_file_batch(
    client: httpx.AsyncClient, emulator: Emulator, gemini: GeminiEmulator
) -> None:
    body = b'{"key": "a", "request": {"contents": [{"parts": [{"text": "one"}]}]}}\n'
    start = await client.post(
        "/upload/v1/files",
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(body)),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        },
        json={"file": {"displayName": "input"}},
    )
    session = start.headers["x-goog-upload-url"]
    # Google's host, as the real API answers: read through the configured root.
    assert session.startswith("https://generativelanguage.googleapis.com/upload/v1/files?")
    path = session.split("googleapis.com", 1)[1]
    half = len(body) // 2
    first = await client.post(
        path,
        content=body[:half],
        headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"},
    )
    assert first.headers["x-goog-upload-status"] == "active"
    final = await client.post(
        path,
        content=body[half:],
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": str(half)},
    )
    assert final.headers["x-goog-upload-status"] == "final"
    file = final.json()["file"]
    assert file["sizeBytes"] == str(len(body))
    assert file["uri"] == f"{emulator.gemini_base_url}/v1/{file['name']}"
    # Uploaded files cannot be downloaded.
    refused = await client.get(f"/download/v1/{file['name']}:download", params={"alt": "media"})
    assert refused.status_code == 400
    created = await client.post(
        f"/v1/models/{MODEL}:batchGenerateContent",
        json={"batch": {"displayName": "d", "inputConfig": {"fileName": file["name"]}}},
    )
    name = created.json()["name"]
    gemini.state.finish(name)
    done = (await client.get(f"/v1/{name}")).json()
    output = done["response"]["responsesFile"]
    assert done["metadata"]["inputConfig"] == {"fileName": file["name"]}
    for url in (f"/download/v1/{output}:download", f"/v1/{output}:download"):
        lines = (await client.get(url, params={"alt": "media"})).text.splitlines()
        assert len(lines) == 1
        assert '"key":"a"' in lines[0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (inline({**REQUEST, "max_tokens": 3}), 'Unknown name "max_tokens"'),
        (inline({**REQUEST, "generationConfig": {"maxTokens": 3}}), 'Unknown name "maxTokens"'),
        (
            {"batch": {"inputConfig": {"fileName": "files/x", "requests": {"requests": []}}}},
            "exactly one of requests or file_name",
        ),
        ({"batch": {"inputConfig": {"fileName": "files/none"}}}, "not found"),
        ({"nothing": 1}, "batch: field required"),
    ],
)
async def test_what_the_api_refuses(
    client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    answer = await client.post(f"/v1/models/{MODEL}:batchGenerateContent", json=body)
    assert answer.status_code in (400, 404)
    assert message in answer.json()["error"]["message"]
    assert answer.json()["error"]["status"] in ("INVALID_ARGUMENT", "NOT_FOUND")


async def test_the_inline_body_limit(client: httpx.AsyncClient, gemini: GeminiEmulator) -> None:
    gemini.options.max_inline_bytes = 1000
    big = inline({"contents": [{"parts": [{"text": "x" * 2000}]}]})
    answer = await client.post(f"/v1/models/{MODEL}:batchGenerateContent", json=big)
    assert answer.status_code == 400
    assert "payload size exceeds the limit" in answer.json()["error"]["message"]


async def test_a_request_without_contents_is_a_per_request_error(
    client: httpx.AsyncClient, gemini: GeminiEmulator
) -> None:
    created = await client.post(
        f"/v1/models/{MODEL}:batchGenerateContent", json=inline({"contents": []}, REQUEST)
    )
    name = created.json()["name"]
    gemini.state.finish(name)
    entries = (await client.get(f"/v1/{name}")).json()["response"]["inlinedResponses"][
        "inlinedResponses"
    ]
    assert entries[0]["error"]["code"] == 3
    assert "response" in entries[1]


async def test_unknown_versions_and_keys(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.gemini_base_url) as anonymous:
        assert (await anonymous.get("/v1/batches")).status_code == 403
        assert (await anonymous.get("/v1/batches", params={"key": "k"})).status_code == 200
        assert (await anonymous.get("/v2/batches", params={"key": "k"})).status_code == 404


async def test_count_tokens(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        f"/v1/models/{MODEL}:countTokens", json={"generateContentRequest": REQUEST}
    )
    assert answer.json() == {"totalTokens": 1}


async def test_the_date_header_is_the_vendor_clock(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/batches")).headers["date"].endswith("GMT")
