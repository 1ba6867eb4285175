"""A hostile HTTP proxy for fault tests: stall, replace and rewrite answers, record calls.

:class:`HostileProxy` listens on ``127.0.0.1`` and forwards every request to an upstream
server (usually the :mod:`lmbatch.testing.emulator`), misbehaving where a test tells it to.
Rules select calls by method, path and call number, and act on them:

* :meth:`ProxyRule.stall` holds the answer back (before or after the upstream saw the
  request), like a vendor or a network that stops responding;
* :meth:`ProxyRule.respond` replaces the answer (status, headers, body), e.g. a ``200``
  with an HTML page, or a JSON body without ``id``; the upstream may still have acted;
* :meth:`ProxyRule.rewrite` edits fields of a JSON answer (drop ``id``, set
  ``processing_status`` to a word nobody knows, point ``results_url`` elsewhere).

Every call is recorded (:attr:`HostileProxy.calls`), headers included, so a test can also
check where credentials were sent. A proxy without an upstream answers ``404`` to every
call it has no rule for, which makes it a "foreign host" that just records.

Example::

    async with Emulator() as emulator, HostileProxy(emulator.base_url) as proxy:
        create = proxy.on("POST", "/v1/batches", nth=1).stall(60)  # hang the first create
        proxy.on("GET", "/v1/batches/*").rewrite({"status": "mystery"})
        ops = lmbatch.get_batch_operations(
            "openai", model="gpt-4.1-mini", base_url=proxy.openai_base_url, api_key="k"
        )
        task = asyncio.create_task(ops.invoke({"q": "Hi"}))
        await create.stalled()  # the create reached the emulator; its answer is held
        task.cancel()
        ...
        assert all("authorization" not in call.headers for call in foreign.calls)

Paths are matched with :func:`fnmatch.fnmatchcase` (``*`` also crosses ``/``), without
the query string. Requires the ``emulator`` extra (uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import http.client
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = ["DROP", "HostileProxy", "ProxyCall", "ProxyRule"]

_START_TIMEOUT = 10.0
_UPSTREAM_TIMEOUT = 120.0
# Headers that belong to one connection, not to the message: never forwarded as they are.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
        "content-encoding",
    }
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: Value for :meth:`ProxyRule.rewrite` that deletes a field instead of setting it.
DROP: Any = _Drop()


@dataclass
class ProxyCall:
    """One request the proxy received, and what it answered.

    Attributes:
        method: HTTP method, upper case.
        path: Request path, without the query string.
        query: The query string (without ``?``), possibly empty.
        headers: Request headers, names lower-cased (a repeated header keeps its last value).
        body: The request body.
        status: Status the proxy answered with (None until it answers).
        upstream_status: Status the upstream answered with (None when not forwarded).
        rules: Indexes (in the order added) of the rules that acted on this call.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    upstream_status: int | None = None
    rules: list[int] = field(default_factory=list)

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class ProxyRule:
    """What the proxy does to the calls one rule selects; made by :meth:`HostileProxy.on`.

    The builder methods return the rule, so they chain. Counters:

    Attributes:
        matched: Calls whose method and path matched so far.
        fired: Calls the rule acted on (matched, with a selected call number).
        stalling: Calls held in this rule's stall right now.
    """

    def __init__(self, index: int, method: str, path: str, nth: frozenset[int] | None) -> None:
        self.index = index
        self.method = method.upper()
        self.path = path
        self.nth = nth
        self.matched = 0
        self.fired = 0
        self.stalling = 0
        self._stall_seconds: float | None = None
        self._stall_before = False
        self._replacement: _Answer | None = None
        self._forward = True
        self._changes: list[tuple[list[str], Any]] = []
        self._edit: Callable[[Any], Any] | None = None

    def __repr__(self) -> str:
        return f"ProxyRule({self.method} {self.path}, nth={sorted(self.nth or [])})"

    # -- what the rule does ------------------------------------------------------------

    def stall(self, seconds: float = 3600.0, *, before_forwarding: bool = False) -> Self:
        """Hold the answer back for ``seconds`` (released early when the proxy stops).

        Args:
            seconds: How long to stall.
            before_forwarding: Stall before the upstream sees the request (the request
                is "lost on the way"); by default the upstream acts first and only the
                answer is late.
        """
        self._stall_seconds = seconds
        self._stall_before = before_forwarding
        return self

    def respond(
        self,
        status: int = 200,
        body: bytes | str | Any = b"",
        *,
        headers: Mapping[str, str] | None = None,
        forward: bool = True,
    ) -> Self:
        """Answer with this instead of the upstream's answer.

        Args:
            status: HTTP status.
            body: Bytes or text as they are; anything else is sent as JSON.
            headers: Response headers (a JSON body gets ``content-type:
                application/json`` unless given, text gets ``text/plain``).
            forward: Still forward the request first (the upstream acts, the client
                never learns the real answer); False answers without forwarding.
        """
        names = {name.lower() for name in headers or {}}
        if isinstance(body, bytes):
            data, kind = body, "application/octet-stream"
        elif isinstance(body, str):
            data, kind = body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        pairs = [(name, value) for name, value in (headers or {}).items()]
        if "content-type" not in names:
            pairs.append(("content-type", kind))
        self._replacement = _Answer(status, pairs, data)
        self._forward = forward
        return self

    def rewrite(
        self,
        changes: Mapping[str, Any] | None = None,
        *,
        drop: Iterable[str] = (),
        edit: Callable[[Any], Any] | None = None,
    ) -> Self:
        """Edit fields of a JSON answer (a body that is not JSON is left alone).

        Args:
            changes: ``{"dotted.path": value}``; ``*`` in a path stands for every item of
                a list or every value of an object (``"data.*.status"``); a value of
                :data:`DROP` deletes the field.
            drop: Dotted paths of fields to delete.
            edit: A function given the parsed body, returning the new one (applied after
                ``changes`` and ``drop``).
        """
        for dotted, value in (changes or {}).items():
            self._changes.append((dotted.split("."), value))
        for dotted in drop:
            self._changes.append((dotted.split("."), DROP))
        self._edit = edit
        return self

    # -- waiting for it ----------------------------------------------------------------

    def wait_stalled(self, timeout: float = 10.0) -> None:
        """Block until a call is held in this rule's stall.

        Raises:
            TimeoutError: No call was stalled within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.stalling == 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no call stalled by {self!r} within {timeout:g} s")
            time.sleep(0.01)

    async def stalled(self, timeout: float = 10.0) -> None:
        """Wait (without blocking the event loop) until a call is held in this stall.

        Raises:
            TimeoutError: No call was stalled within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.stalling == 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no call stalled by {self!r} within {timeout:g} s")
            await asyncio.sleep(0.01)

    # -- internals ---------------------------------------------------------------------

    def _select(self, method: str, path: str) -> bool:
        """Count a call against this rule; whether the rule acts on it (under the lock)."""
        if self.method not in ("*", method) or not fnmatch.fnmatchcase(path, self.path):
            return False
        self.matched += 1
        if self.nth is not None and self.matched not in self.nth:
            return False
        self.fired += 1
        return True

    def _rewrite_body(self, body: bytes) -> bytes:
        if not self._changes and self._edit is None:
            return body
        try:
            data = json.loads(body)
        except ValueError:
            return body
        for parts, value in self._changes:
            _apply(data, parts, value)
        if self._edit is not None:
            data = self._edit(data)
        return json.dumps(data).encode()


def _apply(node: Any, parts: list[str], value: Any) -> None:
    """Set (or delete, for :data:`DROP`) the field at ``parts`` under ``node``."""
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(node, dict):
            children = list(node.values())
        else:
            children = node if isinstance(node, list) else []
        if rest:
            for child in children:
                _apply(child, rest, value)
        return
    if isinstance(node, list):
        if not head.lstrip("-").isdigit() or not -len(node) <= int(head) < len(node):
            return
        if rest:
            _apply(node[int(head)], rest, value)
        elif value is DROP:
            del node[int(head)]
        else:
            node[int(head)] = value
        return
    if not isinstance(node, dict):
        return
    if rest:
        if head in node:
            _apply(node[head], rest, value)
    elif value is DROP:
        node.pop(head, None)
    else:
        node[head] = value


class HostileProxy:
    """An HTTP proxy on ``127.0.0.1`` that misbehaves on purpose (see the module doc).

    Use it as a sync or async context manager, or :meth:`start` / :meth:`stop` it.

    Args:
        upstream: Base URL to forward to (``http://127.0.0.1:PORT``; only the scheme
            ``http``, host and port are used). None: forward nothing, answer ``404`` to
            calls no rule answers (a recording "foreign host").
    """

    def __init__(self, upstream: str | None = None) -> None:
        if upstream is not None:
            parts = urlsplit(upstream)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
            self._upstream: tuple[str, int] | None = (parts.hostname, parts.port or 80)
        else:
            self._upstream = None
        self.upstream = upstream
        self._lock = threading.Lock()
        self._rules: list[ProxyRule] = []
        self._calls: list[ProxyCall] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False

    # -- rules and records -------------------------------------------------------------

    def on(self, method: str, path: str, *, nth: int | Iterable[int] | None = None) -> ProxyRule:
        """Add a rule for calls of ``method`` (``"*"``: any) to paths matching ``path``.

        Args:
            method: HTTP method, or ``"*"``.
            path: A path pattern (``fnmatch`` style: ``"/v1/batches/*"``).
            nth: Act only on these matching calls (1-based, counted from now): one number
                or several. None acts on every matching call.

        Returns:
            The rule; tell it what to do with :meth:`ProxyRule.stall`,
            :meth:`ProxyRule.respond` and :meth:`ProxyRule.rewrite`.
        """
        selected = None if nth is None else frozenset([nth] if isinstance(nth, int) else nth)
        if selected is not None and (not selected or min(selected) < 1):
            raise ValueError("nth is 1-based")
        with self._lock:
            rule = ProxyRule(len(self._rules), method, path, selected)
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule and forget the recorded calls (stalls in progress go on)."""
        with self._lock:
            self._rules.clear()
            self._calls.clear()

    @property
    def calls(self) -> list[ProxyCall]:
        """A snapshot of every call received so far, in arrival order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str, path: str) -> list[ProxyCall]:
        """The recorded calls of ``method`` (``"*"``: any) to paths matching ``path``."""
        wanted = method.upper()
        return [
            call
            for call in self.calls
            if wanted in ("*", call.method) and fnmatch.fnmatchcase(call.path, path)
        ]

    def release(self) -> None:
        """End every stall in progress now (new calls still stall as their rules say)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._renew_wake)

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (only while running)."""
        if self._port is None or self._server is None:
            raise RuntimeError("the proxy is not running; use it as a context manager")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Same as :attr:`url` (mirrors the emulator's attribute)."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """Base URL for the OpenAI SDK through this proxy: ``…/v1``."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for the Anthropic SDK through this proxy (the SDK adds ``/v1``)."""
        return self.url

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start serving in a background thread; returns once connections are accepted."""
        if self._server is not None:
            return
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        self._closing = False
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="lmbatch-proxy", daemon=True
        )
        self._server, self._thread, self._sock = server, thread, sock
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the hostile proxy did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Release every stall, stop the server and wait for its thread."""
        server, thread = self._server, self._thread
        self._closing = True
        self.release()
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
        self._loop = self._wake = None

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

    # -- serving (in the proxy's own thread and event loop) ----------------------------

    def _renew_wake(self) -> None:
        if self._wake is not None:
            self._wake.set()
        self._wake = asyncio.Event()

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
        parts: list[bytes] = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(parts)
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers[raw_name.decode("latin-1").lower()] = raw_value.decode("latin-1")
        call = ProxyCall(
            method=scope["method"].upper(),
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
        )
        with self._lock:
            self._calls.append(call)
            rules = [rule for rule in self._rules if rule._select(call.method, call.path)]
        call.rules = [rule.index for rule in rules]
        answer = await self._answer(call, rules)
        if answer is None:
            return
        # Recorded before the answer goes out: a client holding the answer must find the
        # call complete in the log (the test thread reads it as soon as it has the answer).
        call.status = answer.status
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in answer.headers]
                + [(b"content-length", str(len(answer.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    async def _answer(self, call: ProxyCall, rules: list[ProxyRule]) -> _Answer | None:
        for rule in rules:
            if rule._stall_seconds is not None and rule._stall_before:
                await self._stall(rule)
        replacing = [rule for rule in rules if rule._replacement is not None]
        forward = not replacing or replacing[-1]._forward
        answer: _Answer
        if self._closing:
            answer = _Answer(503, [("content-type", "text/plain")], b"proxy stopping")
        elif forward and self._upstream is not None:
            answer = await asyncio.to_thread(self._forward, call)
            call.upstream_status = answer.status
        else:
            answer = _Answer(404, [("content-type", "text/plain")], b"no such route")
        if replacing:
            chosen = replacing[-1]._replacement
            assert chosen is not None
            answer = _Answer(chosen.status, list(chosen.headers), chosen.body)
        for rule in rules:
            answer.body = rule._rewrite_body(answer.body)
        for rule in rules:
            if rule._stall_seconds is not None and not rule._stall_before:
                await self._stall(rule)
        return answer

    async def _stall(self, rule: ProxyRule) -> None:
        wake = self._wake
        assert wake is not None
        assert rule._stall_seconds is not None
        with self._lock:
            rule.stalling += 1
        try:
            if not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), rule._stall_seconds)
        finally:
            with self._lock:
                rule.stalling -= 1

    def _forward(self, call: ProxyCall) -> _Answer:
        """Send ``call`` upstream and read the whole answer (runs in a worker thread)."""
        assert self._upstream is not None
        host, port = self._upstream
        headers = {name: value for name, value in call.headers.items() if name not in _HOP_BY_HOP}
        # The client's Host is kept (as a reverse proxy that preserves it): links the
        # upstream builds from it, such as Anthropic's results_url, then point back at the
        # proxy, the host the client is configured with.
        headers["host"] = call.headers.get("host") or f"{host}:{port}"
        headers["accept-encoding"] = "identity"
        target = call.path + (f"?{call.query}" if call.query else "")
        connection = http.client.HTTPConnection(host, port, timeout=_UPSTREAM_TIMEOUT)
        try:
            connection.request(call.method, target, body=call.body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            pairs = [
                (name.lower(), value)
                for name, value in response.getheaders()
                if name.lower() not in _HOP_BY_HOP
            ]
            return _Answer(response.status, pairs, data)
        except OSError as exc:
            return _Answer(502, [("content-type", "text/plain")], f"upstream: {exc}".encode())
        finally:
            connection.close()
