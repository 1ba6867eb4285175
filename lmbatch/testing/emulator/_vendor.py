"""The base class of a vendor's part of the emulator, which plugins subclass and register."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from lmbatch.testing.emulator._guard import tampered
from lmbatch.testing.emulator._http import has_bearer_key, retry_headers

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from lmbatch.testing.emulator._jobs import Job
    from lmbatch.testing.emulator._state import EmulatorState

OptionsT = TypeVar("OptionsT")

Action = Callable[[], Awaitable["Response"]]
"""Performs one operation and builds its normal response (see `EmulatorVendor.guarded`)."""


class EmulatorVendor(Generic[OptionsT]):
    """One vendor's part of the emulator: its routes, error shape, auth check and batches.

    A provider plugin subclasses it and registers the class through the
    ``lmbatch_register_emulator_vendors`` hook; every emulator (`Emulator`, `create_app`,
    ``lmbatch emulator``) then serves it beside the other installed vendors. The host owns
    what every vendor shares: the server, the clock, temporary storage, the call log,
    fault directives and endpoint faults, lifecycle driving (`Job`), and accounting
    (`EmulatorState.count_submissions`). A vendor supplies the wire format.

    One instance lives per emulator state, made with that state and the vendor's options;
    it keeps its own records (batches, files...) and reports its batches through `jobs`.
    Each route handler wraps its work in `guarded`, which applies auth, the clock and
    scripted faults, and tags the call log with the vendor and operation.

    Example::

        class EchoEmulator(EmulatorVendor[None]):
            name = "echo"
            operations = frozenset({"ping"})
            path_prefixes = ("/echo/",)

            def routes(self) -> list[BaseRoute]:
                return [Route("/echo/v1/ping", self.ping, methods=["GET"])]

            def error_response(self, status: int, message: str | None = None) -> Response:
                return JSONResponse({"error": message or "error"}, status_code=status)

            async def ping(self, request: Request) -> Response:
                async def action() -> Response:
                    return JSONResponse({"pong": True})

                return await self.guarded(request, "ping", action)

    Attributes:
        name: The vendor's name, usually its provider name: what
            ``EndpointFault(provider=...)`` and `CallRecord.provider` say, and the
            ``<name>_`` prefix of its options in `EmulatorSettings` and of
            ``Emulator.<name>_base_url``.
        title: Human name for banners (``lmbatch emulator``); defaults to ``name``.
        base_path: What a client of this vendor appends to the server's root URL to get
            its base URL (``"/v1"`` when the vendor's SDK wants ``…/v1``; ``""`` when the
            SDK adds it itself).
        path_prefixes: URL path prefixes this vendor owns: a call to an unknown URL under
            one of them gets this vendor's error shape (the longest prefix wins).
        operations: Names of the vendor's operations, as `EndpointFault` and
            `ResultsTamper` name them.
        options_class: Class of the vendor's options (limits...), called with the
            keywords given in `EmulatorSettings.vendor_options`; ``None``: no options.
        bearer_auth_message: Set by a vendor whose API takes ``Authorization: Bearer
            <key>``: the default `auth_error` refuses a request without one (when the
            emulator requires keys) with a 401 saying this.
        state: The emulator state this instance serves.
        options: This instance's options (``None`` without an ``options_class``).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    base_path: ClassVar[str] = ""
    path_prefixes: ClassVar[tuple[str, ...]] = ()
    operations: ClassVar[frozenset[str]] = frozenset()
    options_class: Callable[..., Any] | None = None
    bearer_auth_message: ClassVar[str | None] = None

    def __init__(self, state: EmulatorState, options: OptionsT) -> None:
        self.state = state
        self.options = options

    # What a vendor writes ----------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The vendor's Starlette routes (full paths, e.g. ``/v1/batches``).

        Returns:
            Routes whose handlers are this instance's methods.
        """
        raise NotImplementedError

    def error_response(self, status: int, message: str | None = None) -> Response:
        """An HTTP error in the vendor's shape (status, error envelope, request-id header).

        The default sends `error_body` as JSON (``retry-after: 0`` on a 429), its message
        ``"Emulated fault"`` for a 5xx and ``"Request refused"`` otherwise when none is
        given: a vendor whose errors are just a JSON envelope declares `error_body` only.

        Args:
            status: HTTP status.
            message: Human-readable message; ``None``: the vendor's usual one for ``status``.

        Returns:
            The response.
        """
        from starlette.responses import JSONResponse

        text = message or ("Emulated fault" if status >= 500 else "Request refused")
        body = self.error_body(status, text)
        return JSONResponse(body, status_code=status, headers=retry_headers(status))

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """The vendor's JSON error envelope, for the default `error_response`.

        Args:
            status: HTTP status.
            message: Human-readable message.

        Returns:
            The JSON object to send.
        """
        raise NotImplementedError

    def fault_response(self, status: int) -> Response:
        """What a scripted `EndpointFault` answers (default: `error_response` for ``status``).

        Args:
            status: The fault's HTTP status.

        Returns:
            The response.
        """
        return self.error_response(status)

    def auth_error(self, request: Request) -> Response | None:
        """The error for a request the vendor refuses before any work, or ``None``.

        Called first for every guarded operation: check the API-key header when
        ``self.state.settings.require_auth`` is set, and any header the vendor always
        requires. The default checks a bearer key when `bearer_auth_message` is set, and
        accepts everything otherwise.

        Args:
            request: The incoming request.

        Returns:
            The refusal, or ``None`` to go on.
        """
        if self.bearer_auth_message is None or not self.state.settings.require_auth:
            return None
        return (
            None if has_bearer_key(request) else self.error_response(401, self.bearer_auth_message)
        )

    def jobs(self) -> Iterable[Job]:
        """This vendor's batches, for the host's lifecycle driving (default: none)."""
        return ()

    def reset(self) -> None:
        """Forget every record (batches, files...); called by `EmulatorState.reset`."""

    # What the host gives -----------------------------------------------------------------

    async def guarded(self, request: Request, operation: str, action: Action) -> Response:
        """Run ``action`` for one API operation, honouring auth, the clock and faults.

        Tags the call for the call log, refuses it through `auth_error`, catches time-mode
        batches up, answers with `fault_response` when an `EndpointFault` fires (before the
        work, or after it with ``after_effect``) and damages a file download when a
        `ResultsTamper` asks.

        Args:
            request: The incoming request.
            operation: The operation's name (one of `operations`).
            action: Performs the operation and builds the normal response.

        Returns:
            The response to send.
        """
        request.state.provider = self.name
        request.state.operation = operation
        denied = self.auth_error(request)
        if denied is not None:
            return denied
        self.state.tick()
        fault = self.state.faults.check(self.name, operation)
        if fault is not None and not fault.after_effect:
            return self.fault_response(fault.status)
        response = await action()
        if fault is not None:
            return self.fault_response(fault.status)
        tamper = self.state.faults.tamper_for(self.name, operation)
        if tamper is not None:
            return tampered(response, tamper)
        return response
