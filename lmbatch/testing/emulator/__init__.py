"""A local, offline batch-API emulator that serves every installed vendor's routes.

The real provider code paths (official SDKs, HTTP, JSONL) run against it with no key and no
network. The host here is vendor-neutral: the ASGI app and server, the call log, settings,
fault directives and endpoint faults, temporary storage, the vendor clock and lifecycle
driving. Each provider plugin contributes its vendor's routes through the
``lmbatch_register_emulator_vendors`` hook, as an `EmulatorVendor` subclass built on the
public helpers below (the first-party ``lmbatch-openai`` and ``lmbatch-anthropic`` do).

Batches follow the vendor lifecycles, driven by polls, time or the test
(`EmulatorSettings.mode`); results come from a deterministic responder; faults are scripted
per request (``[[lmbatch:error=429]]`` in the prompt, or by custom_id) or per operation
(`FaultPlan.fail`).

Example::

    from lmbatch.testing.emulator import Emulator, EmulatorSettings

    async with Emulator(EmulatorSettings(mode="polls")) as emu:
        client = openai.AsyncOpenAI(base_url=emu.openai_base_url, api_key="test")
        ...
        assert emu.submissions["q1"] == 1

Requires the ``emulator`` extra (starlette, uvicorn, python-multipart).
"""

from __future__ import annotations

from typing import Any

from lmbatch.testing._directives import NO_FAULT, KeyFault, faults_in_text, parse_fault_spec
from lmbatch.testing._schema_sample import sample_from_schema
from lmbatch.testing.emulator._app import create_app
from lmbatch.testing.emulator._faults import FaultPlan, ResultsTamper, TamperAction
from lmbatch.testing.emulator._http import has_bearer_key, retry_headers
from lmbatch.testing.emulator._ids import base62_id, hex_id
from lmbatch.testing.emulator._jobs import Job, RunProgress, runnable_prefix, write_result_line
from lmbatch.testing.emulator._registry import installed_vendors
from lmbatch.testing.emulator._responder import (
    REFUSE_MARK,
    RequestRejected,
    all_text,
    last_user_text,
    text_of,
    tokens,
)
from lmbatch.testing.emulator._server import Emulator, serve
from lmbatch.testing.emulator._settings import EmulatorSettings, EndpointFault, Mode
from lmbatch.testing.emulator._state import CallRecord, EmulatorState
from lmbatch.testing.emulator._vendor import Action, EmulatorVendor

__all__ = [
    "NO_FAULT",
    "REFUSE_MARK",
    "Action",
    "CallRecord",
    "Emulator",
    "EmulatorSettings",
    "EmulatorState",
    "EmulatorVendor",
    "EndpointFault",
    "FaultPlan",
    "Job",
    "KeyFault",
    "Mode",
    "RequestRejected",
    "ResultsTamper",
    "RunProgress",
    "TamperAction",
    "all_text",
    "base62_id",
    "create_app",
    "faults_in_text",
    "has_bearer_key",
    "hex_id",
    "installed_vendors",
    "instance_for",
    "last_user_text",
    "parse_fault_spec",
    "retry_headers",
    "runnable_prefix",
    "sample_from_schema",
    "serve",
    "text_of",
    "tokens",
    "write_result_line",
]


def instance_for(schema: Any, *, seed_text: str = "example") -> Any:
    """A value that validates against ``schema``: `sample_from_schema`, by keyword.

    Args:
        schema: A JSON schema (dict or bool).
        seed_text: Text used for free-form strings, so answers echo the prompt.

    Returns:
        A JSON-compatible value; the same inputs always give the same value.
    """
    return sample_from_schema(schema, seed_text)


def __getattr__(name: str) -> frozenset[str]:
    # ``<VENDOR>_OPERATIONS``: a vendor's operation names, as this module once listed them.
    vendor = name.removesuffix("_OPERATIONS")
    if vendor != name:
        for found in installed_vendors():
            if found.name.upper() == vendor:
                return found.operations
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
