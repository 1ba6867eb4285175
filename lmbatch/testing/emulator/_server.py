"""Running the emulator: a background-thread server for tests, a blocking one for the CLI."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import uvicorn

from lmbatch.testing.emulator._app import create_app
from lmbatch.testing.emulator._faults import FaultPlan
from lmbatch.testing.emulator._settings import EmulatorSettings
from lmbatch.testing.emulator._state import CallRecord, EmulatorState
from lmbatch.testing.emulator._vendor import EmulatorVendor
from lmbatch.testing.emulator._webhooks import WebhookSender

_START_TIMEOUT = 10.0


class Emulator:
    """A local batch-API server for tests, serving every installed vendor's routes.

    Starts uvicorn in a background thread on ``127.0.0.1`` and a free port; stops it (and
    deletes its temporary storage) on exit. Usable as a sync or async context manager::

        with Emulator(EmulatorSettings(mode="manual")) as emu:
            client = openai.OpenAI(base_url=emu.openai_base_url, api_key="test")
            ...
            emu.advance()

    ``emu.<vendor>_base_url`` is ``emu.base_url_for("<vendor>")``: the base URL a client
    of that vendor is given.

    Args:
        settings: Behaviour; defaults to `EmulatorSettings()`.
        vendors: Vendor classes to serve; ``None``: every installed one.
    """

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        vendors: Sequence[type[EmulatorVendor[Any]]] | None = None,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.state = EmulatorState(self.settings, vendors=vendors)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._sock: socket.socket | None = None
        self._webhooks: WebhookSender | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving; returns once the server accepts connections.

        Raises:
            RuntimeError: The server did not come up in time.
        """
        if self._server is not None:
            return
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted connections when the
        # listener's proto says TCP; without it every keep-alive request waits ~40 ms on
        # Nagle + delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(state=self.state),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
            date_header=False,  # the app sends Date from the emulated vendor's clock
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="lmbatch-emulator", daemon=True
        )
        # The socket object stays ours: closing it while uvicorn serves would close the fd.
        self._server, self._thread, self._sock = server, thread, sock
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the lmbatch emulator did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop the server, wait for its thread and delete the temporary storage."""
        if self._webhooks is not None:
            self._webhooks.stop()
            self._webhooks = None
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=5)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.state.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (only while running).

        Raises:
            RuntimeError: Not started.
        """
        if self._port is None or self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def base_url_for(self, vendor: str) -> str:
        """The base URL a client of ``vendor`` is given (its `EmulatorVendor.base_path`).

        Args:
            vendor: A served vendor's name.

        Returns:
            ``http://127.0.0.1:PORT`` followed by the vendor's base path.

        Raises:
            KeyError: The emulator does not serve ``vendor``.
            RuntimeError: Not started.
        """
        served = self.state.vendors.get(vendor)
        if served is None:
            raise KeyError(f"the emulator serves no vendor {vendor!r}; it serves {self.vendors}")
        return self.base_url + served.base_path

    @property
    def vendors(self) -> list[str]:
        """Names of the vendors served, sorted."""
        return sorted(self.state.vendors)

    def __getattr__(self, name: str) -> str:
        # Only called for attributes the emulator lacks: ``openai_base_url`` and the like.
        vendor, state = name.removesuffix("_base_url"), self.__dict__.get("state")
        if vendor != name and state is not None and vendor in state.vendors:
            return self.base_url_for(vendor)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # controls ----------------------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        """The live fault plan: ``faults.fail(...)``, ``faults.fail_key(...)``, ``clear()``."""
        return self.state.faults

    def advance(self, batch_id: str | None = None, steps: int = 1) -> None:
        """Advance one batch (default: every unfinished batch) by ``steps`` lifecycle steps."""
        self.state.advance(batch_id, steps)

    def finish(self, batch_id: str | None = None) -> None:
        """Advance one batch (default: all) to its final state."""
        self.state.finish(batch_id)

    def expire(self, batch_id: str, finished: int = 0) -> None:
        """End a batch as expired with only its first ``finished`` requests answered."""
        self.state.expire(batch_id, finished)

    def reset(self) -> None:
        """Forget all files, batches, calls, submissions and faults."""
        self.state.reset()

    def send_webhooks(self, url: str, secrets: Mapping[str, str]) -> WebhookSender:
        """Post a signed webhook to ``<url>/<vendor>`` whenever a batch ends, as vendors do.

        Only vendors that send batch webhooks (`EmulatorVendor.webhook_event`) and have a
        secret here send anything. From now on time-mode batches also move with nobody
        polling them. Sending stops with the emulator.

        Args:
            url: The receiver's base URL (a server on this machine).
            secrets: Signing secret (``whsec_...``) per vendor name.

        Returns:
            The sender; its ``deliveries`` log every webhook sent.
        """
        if self._webhooks is not None:
            self._webhooks.stop()
        self._webhooks = WebhookSender(self.state, url, secrets)
        return self._webhooks

    @property
    def calls(self) -> list[CallRecord]:
        """A snapshot of every call answered so far."""
        with self.state.lock:
            return list(self.state.calls)

    @property
    def create_calls(self) -> int:
        """Batch-create calls received (every vendor, including failed ones)."""
        return self.state.create_calls

    @property
    def submissions(self) -> Counter[str]:
        """How often each custom_id was submitted in an accepted batch, across all batches.

        Counted without the job tag lmbatch ends every id with (``_lb`` and 10 characters,
        fresh for each job), so the same request sent in two jobs counts twice.
        """
        with self.state.lock:
            return Counter(self.state.submissions)


def serve(
    host: str = "127.0.0.1",
    port: int = 8089,
    settings: EmulatorSettings | None = None,
    *,
    vendors: Sequence[type[EmulatorVendor[Any]]] | None = None,
) -> None:
    """Serve the emulator in the foreground until interrupted (used by the CLI).

    Args:
        host: Interface to bind; keep the default unless you know why.
        port: TCP port.
        settings: Behaviour; defaults to `EmulatorSettings()`.
        vendors: Vendor classes to serve; ``None``: every installed one.
    """
    state = EmulatorState(settings, vendors=vendors)
    try:
        uvicorn.run(
            create_app(state=state), host=host, port=port, log_level="info", date_header=False
        )
    finally:
        state.close()
