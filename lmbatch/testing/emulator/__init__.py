"""A local, offline stand-in for the OpenAI Files + Batches and Anthropic Message Batches APIs.

The real provider code paths (official SDKs, HTTP, JSONL) run against it with no key and no
network. Batches follow the vendor lifecycles, driven by polls, time or the test
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

from lmbatch.testing.emulator._app import create_app
from lmbatch.testing.emulator._faults import (
    FaultPlan,
    KeyFault,
    ResultsTamper,
    TamperAction,
    faults_in_text,
    parse_fault_spec,
)
from lmbatch.testing.emulator._schemagen import instance_for
from lmbatch.testing.emulator._server import Emulator, serve
from lmbatch.testing.emulator._settings import (
    ANTHROPIC_OPERATIONS,
    OPENAI_OPERATIONS,
    EmulatorSettings,
    EndpointFault,
    Mode,
)
from lmbatch.testing.emulator._state import CallRecord, EmulatorState

__all__ = [
    "ANTHROPIC_OPERATIONS",
    "OPENAI_OPERATIONS",
    "CallRecord",
    "Emulator",
    "EmulatorSettings",
    "EmulatorState",
    "EndpointFault",
    "FaultPlan",
    "KeyFault",
    "Mode",
    "ResultsTamper",
    "TamperAction",
    "create_app",
    "faults_in_text",
    "instance_for",
    "parse_fault_spec",
    "serve",
]
