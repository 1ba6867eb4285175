"""VCR cassettes for provider tests: scrubbed, readable, replayed strictly.

The lmbatch pytest plugin (:mod:`lmbatch.testing.pytest_plugin`, loaded automatically
when lmbatch is installed) registers the matcher and serializer below with
pytest-recording and enforces full replay. A provider's ``conftest.py`` opts in by
building its ``vcr_config`` with :func:`vcr_config_for`::

    from lmbatch.testing.cassettes import vcr_config_for

    @pytest.fixture
    def vcr_config() -> dict[str, Any]:
        return vcr_config_for("https://api.openai.com")

    @pytest.fixture(scope="module")
    def vcr_cassette_dir() -> str:
        return str(Path(__file__).parent / "cassettes")

Or, shorter, with a :class:`CassetteVendor`, which also gives the tests a
``cassette_target`` (the plugin's fixture): where to send requests when replaying,
recording against the emulator or recording live, and providers aimed there::

    from lmbatch.testing.cassettes import CassetteVendor

    CASSETTES = CassetteVendor(
        provider=GroqBatchOperations,
        origin="https://api.groq.com",
        base_path="/openai/v1",
        emulated_root="/groq",
        live_key_variable="LMBATCH_LIVE_GROQ_KEY",
        options={"model": "llama-3.1-8b-instant"},
    )

    @pytest.fixture
    def cassette_vendor() -> CassetteVendor:
        return CASSETTES

    @pytest.fixture
    def vcr_config() -> dict[str, Any]:
        return CASSETTES.vcr_config()

Tests marked ``@pytest.mark.vcr`` then get, from the plugin:

* **Completeness**: a replayed test that left interactions of its cassette unplayed fails.
* **A fixed job tag**: lmbatch ends every request id with a tag drawn at random for each
  job; in cassette tests it is :data:`CASSETTE_JOB_TAG`, so recorded request bodies and
  result lines match on replay.

What the config does:

* **Scrubbing**: ``authorization``, ``x-api-key``, cookies, ``openai-organization``,
  ``openai-project``, ``anthropic-organization-id`` (request and response headers), and any
  query parameter that carries a key.
* **Host rewriting**: cassettes are recorded against the local emulator
  (``http://127.0.0.1:PORT``, plus the path it serves the vendor under) but stored with
  the vendor's host, in URIs, in response bodies (Anthropic's absolute ``results_url``)
  and in response headers (Together's signed upload ``Location``), so replay needs no
  emulator and the cassettes read like vendor traffic.
* **Readable bodies**: the ``lmbatch_yaml`` serializer stores JSON bodies as YAML
  structures and text (JSONL, multipart) as literal blocks; compressed responses are
  decoded before saving. Files keep the ``.yaml`` suffix.
* **Matching**: the ``lmbatch_body`` matcher compares bodies ignoring the random multipart
  boundary, JSON key order and lmbatch's random job ids.

``record_mode`` is deliberately not set here: pytest-recording's ``--record-mode`` decides
(replay, ``none``, is the default; CI never records).

Needs pytest-recording (with vcrpy) and PyYAML, which the ``dev`` extra installs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import Emulator

__all__ = [
    "BODY_MATCHER",
    "CASSETTE_JOB_TAG",
    "DUMMY_API_KEY",
    "FILTERED_HEADERS",
    "SERIALIZER",
    "CassetteTarget",
    "CassetteVendor",
    "ReadableYamlSerializer",
    "normalize_body",
    "register_with",
    "scrub_response",
    "uses_lmbatch_cassettes",
    "vcr_config_for",
]

#: Headers removed from recorded requests and responses (compared lower-case).
FILTERED_HEADERS = frozenset(
    {
        "authorization",
        "x-api-key",
        "api-key",
        "cookie",
        "set-cookie",
        "openai-organization",
        "openai-project",
        "anthropic-organization-id",
    }
)
#: Query parameters removed from recorded URIs (some APIs accept keys there).
FILTERED_QUERY_PARAMETERS = ("key", "api_key", "api-key")

#: Name of the body matcher registered by :func:`register_with`.
BODY_MATCHER = "lmbatch_body"
#: Name of the readable serializer registered by :func:`register_with`. Not vcrpy's own
#: ``yaml``: the plugin is loaded in every pytest run, and other cassettes keep their format.
SERIALIZER = "lmbatch_yaml"
#: Suffix of cassette files (the serializer's name would be the default).
CASSETTE_SUFFIX = ".yaml"
#: A key that is never valid anywhere: for replay and for the emulator.
DUMMY_API_KEY = "test"
#: The job tag of every job in a cassette test (lmbatch draws a random one per job).
CASSETTE_JOB_TAG = "_lbcassettesa"

# Origins the emulator (and other local test servers) listen on.
_LOCAL_ORIGIN = re.compile(r"http://(?:127\.0\.0\.1|localhost):\d+")
# Values that differ on every run and never decide what a request means.
_VOLATILE = ((re.compile(r"lmbjob_[0-9a-f]{32}"), "lmbjob_<job-id>"),)
_BOUNDARY_RE = re.compile(rb"boundary=([^;\s]+)")


# ----------------------------------------------------------------------------- config


def vcr_config_for(
    vendor_origin: str,
    *,
    emulated_root: str = "",
    key_headers: tuple[str, ...] | list[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    """The ``vcr_config`` for one vendor.

    Args:
        vendor_origin: Scheme and host of the vendor API, e.g. ``"https://api.openai.com"``;
            local emulator origins are rewritten to it when recording.
        emulated_root: The path the emulator serves this vendor's origin under (e.g.
            ``"/groq"``: ``http://127.0.0.1:PORT/groq/openai/v1`` is stored as
            ``https://api.groq.com/openai/v1``); empty when it serves it at its root.
        key_headers: The vendor's own key headers (e.g. ``"x-goog-api-key"``), scrubbed
            like :data:`FILTERED_HEADERS`.
        **overrides: Extra ``vcr.use_cassette`` arguments (never ``record_mode``).

    Returns:
        Keyword arguments for ``vcr.use_cassette`` (pytest-recording's ``vcr_config``).
    """
    if "record_mode" in overrides:
        raise ValueError("do not pin record_mode: it overrides --record-mode")
    secret = FILTERED_HEADERS | {name.lower() for name in key_headers}
    config: dict[str, Any] = {
        "serializer": SERIALIZER,
        "match_on": ("method", "scheme", "host", "port", "path", "query", BODY_MATCHER),
        "filter_headers": sorted(secret),
        "filter_query_parameters": list(FILTERED_QUERY_PARAMETERS),
        "decode_compressed_response": True,
        "before_record_request": rewrite_request(vendor_origin, emulated_root, secret),
        "before_record_response": scrub_response(vendor_origin, emulated_root, secret),
        "path_transformer": _with_cassette_suffix,
    }
    config.update(overrides)
    return config


def uses_lmbatch_cassettes(vcr_config: dict[str, Any]) -> bool:
    """Whether a test's ``vcr_config`` came from :func:`vcr_config_for` (its opt-in)."""
    return vcr_config.get("serializer") == SERIALIZER


def _with_cassette_suffix(path: str) -> str:
    return path if path.endswith(CASSETTE_SUFFIX) else path + CASSETTE_SUFFIX


def _local_root(emulated_root: str) -> re.Pattern[str]:
    """Local origins followed by ``emulated_root`` (a whole path segment), or bare."""
    root = emulated_root.rstrip("/")
    if not root:
        return _LOCAL_ORIGIN
    return re.compile(f"(?:{_LOCAL_ORIGIN.pattern}){re.escape(root)}(?![\\w.-])")


def _to_vendor(vendor_origin: str, emulated_root: str) -> Callable[[str], str]:
    """Rewrites every local URL in a text to the vendor's (its root path dropped first)."""
    rooted = _local_root(emulated_root)

    def rewrite(text: str) -> str:
        return _LOCAL_ORIGIN.sub(vendor_origin, rooted.sub(vendor_origin, text))

    return rewrite


def rewrite_request(
    vendor_origin: str,
    emulated_root: str = "",
    secret_headers: frozenset[str] | set[str] = FILTERED_HEADERS,
) -> Callable[[Any], Any]:
    """A ``before_record_request`` hook: local origin → vendor origin, secrets removed.

    Args:
        vendor_origin: The vendor's scheme and host.
        emulated_root: The path the emulator serves the vendor's origin under.
        secret_headers: Header names (lower case) removed.
    """

    vendor_host = vendor_origin.split("://", 1)[-1]
    to_vendor = _to_vendor(vendor_origin, emulated_root)

    def before_record_request(request: Any) -> Any:
        request.uri = to_vendor(request.uri)
        for name in list(request.headers):
            if name.lower() in secret_headers:
                del request.headers[name]
            elif name.lower() == "host":
                request.headers[name] = vendor_host
        return request

    return before_record_request


def scrub_response(
    vendor_origin: str,
    emulated_root: str = "",
    secret_headers: frozenset[str] | set[str] = FILTERED_HEADERS,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A ``before_record_response`` hook: drop secret headers, rewrite local URLs.

    Local URLs are rewritten in bodies and in header values (a redirect's ``Location``),
    so a client replaying the cassette follows them to recorded requests.
    """
    to_vendor = _to_vendor(vendor_origin, emulated_root)

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        headers = response.get("headers") or {}
        for name in list(headers):
            if name.lower() in secret_headers:
                del headers[name]
            elif isinstance(headers[name], list):
                headers[name] = [
                    to_vendor(value) if isinstance(value, str) else value for value in headers[name]
                ]
        body = response.get("body") or {}
        raw = body.get("string")
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return response
            body["string"] = to_vendor(text).encode("utf-8")
        elif isinstance(raw, str):
            body["string"] = to_vendor(raw)
        return response

    return before_record_response


# ---------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class CassetteVendor:
    """A provider's cassette set-up: where its vendor lives, and how to record it.

    One per provider test directory (its ``conftest.py`` returns it from a
    ``cassette_vendor`` fixture and builds ``vcr_config`` with :meth:`vcr_config`); the
    pytest plugin's ``cassette_target`` fixture then gives each cassette test a
    :class:`CassetteTarget`.

    Attributes:
        provider: The provider class the tests build.
        origin: Scheme and host of the vendor API (e.g. ``"https://api.groq.com"``).
        base_path: The path after ``origin`` in the provider's base URL (e.g.
            ``"/openai/v1"``: the base URL is ``origin + base_path``).
        emulated_root: Where the emulator serves ``origin`` (e.g. ``"/groq"``): with the
            emulator, the base URL is ``http://127.0.0.1:PORT + emulated_root +
            base_path``.
        live_key_variable: Environment variable with a key for recording against the
            live API (None: recording always uses the emulator). The provider's usual key
            variable is never used.
        key_headers: The vendor's own key headers, scrubbed besides :data:`FILTERED_HEADERS`.
        options: Provider options of every instance (``model`` and the like).
        base_url_option: The provider option that takes the base URL (``base_url``).
        emulator_settings: :class:`~lmbatch.testing.emulator.EmulatorSettings` arguments
            for recording (default ``mode="polls"``).
    """

    provider: type[BatchOperations]
    origin: str
    base_path: str = ""
    emulated_root: str = ""
    live_key_variable: str | None = None
    key_headers: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    base_url_option: str = "base_url"
    emulator_settings: Mapping[str, Any] = field(default_factory=lambda: {"mode": "polls"})

    @property
    def vendor_base_url(self) -> str:
        """The base URL of the real API (replay and live recording)."""
        return self.origin + self.base_path

    def vcr_config(self, **overrides: Any) -> dict[str, Any]:
        """The ``vcr_config`` (:func:`vcr_config_for` with this vendor's origin and root)."""
        return vcr_config_for(
            self.origin, emulated_root=self.emulated_root, key_headers=self.key_headers, **overrides
        )

    @contextmanager
    def target(self, record_mode: str) -> Iterator[CassetteTarget]:
        """Where a test sends its requests for ``record_mode`` (pytest-recording's).

        ``none`` (replay, the default): the vendor's URL with a dummy key, answered by
        the cassette. Any recording mode: the live API when :attr:`live_key_variable`
        is set in the environment, else a fresh emulator (stopped on exit).
        """
        if record_mode == "none":
            yield CassetteTarget(self, self.vendor_base_url, DUMMY_API_KEY)
            return
        live_key = os.environ.get(self.live_key_variable) if self.live_key_variable else None
        if live_key:
            yield CassetteTarget(self, self.vendor_base_url, live_key)
            return
        from lmbatch.testing.emulator import Emulator, EmulatorSettings

        with Emulator(EmulatorSettings(**self.emulator_settings)) as emulator:
            base_url = emulator.base_url + self.emulated_root + self.base_path
            yield CassetteTarget(self, base_url, DUMMY_API_KEY, emulator)


@dataclass
class CassetteTarget:
    """Where one cassette test sends its requests (see :meth:`CassetteVendor.target`).

    Attributes:
        vendor: The provider's cassette set-up.
        base_url: The vendor's base URL (replay, live), or the emulator's (recording).
        api_key: The dummy key, or the live key when recording live.
        emulator: The running emulator when recording against it, else None.
    """

    vendor: CassetteVendor
    base_url: str
    api_key: str
    emulator: Emulator | None = None

    @property
    def live(self) -> bool:
        """Whether requests reach the real API (live recording)."""
        return self.emulator is None and self.api_key != DUMMY_API_KEY

    @property
    def poll_interval(self) -> float:
        """Seconds between status checks: 30 live, none against the emulator or a cassette."""
        return 30.0 if self.live else 0.0

    def operations(self, **options: Any) -> Any:
        """A provider aimed at this target: no retries (where the provider has the option),
        a private in-memory store.

        Args:
            **options: Provider options over the vendor's :attr:`CassetteVendor.options`.
        """
        merged: dict[str, Any] = {self.vendor.base_url_option: self.base_url}
        merged["api_key"] = self.api_key
        if "max_retries" in self.vendor.provider.settings_class.model_fields:
            merged["max_retries"] = 0  # a cassette holds each call once
        merged.update(store=":memory:", **self.vendor.options)
        merged.update(options)
        return self.vendor.provider(**merged)

    def skip_live(self, reason: str = "needs the emulator's fault directives") -> None:
        """Skip the test when recording live (``[[lmbatch:...]]`` faults need the emulator)."""
        if self.live:
            import pytest

            pytest.skip(f"{reason}; cannot be recorded live")

    async def wait(self, ops: BatchOperations, batch_id: str, max_checks: int = 500) -> None:
        """Check the batch's status until it ends (sleeping only when live).

        Raises:
            AssertionError: It has not ended after ``max_checks`` checks.
        """
        for _ in range(max_checks):
            if (await ops.status(batch_id)).is_terminal:
                return
            if self.live:
                await asyncio.sleep(self.poll_interval)
        raise AssertionError(f"batch {batch_id} never ended")


# ---------------------------------------------------------------------------- matcher


def normalize_body(body: bytes | str | None, content_type: str = "") -> Any:
    """A comparable form of a request body.

    Multipart bodies have their random boundary replaced; JSON bodies are parsed (so key
    order and spacing do not matter); lmbatch job ids are masked everywhere.
    """
    if body is None:
        return None
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    found = _BOUNDARY_RE.search(content_type.encode()) or (
        re.match(rb"--([^\r\n]+)\r?\n", raw) if raw.startswith(b"--") else None
    )
    if found is not None:
        # The serializer stores multipart bodies with plain newlines, so compare that way.
        raw = raw.replace(found.group(1), b"<boundary>").replace(b"\r\n", b"\n")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _header(request: Any, name: str) -> str:
    for key, value in request.headers.items():
        if key.lower() == name:
            return str(value)
    return ""


def match_body(r1: Any, r2: Any) -> None:
    """vcrpy matcher: bodies equal after :func:`normalize_body` (raises AssertionError)."""
    left = normalize_body(r1.body, _header(r1, "content-type"))
    right = normalize_body(r2.body, _header(r2, "content-type"))
    assert left == right, "request bodies differ"


# ------------------------------------------------------------------------- serializer


class _LiteralDumper(yaml.SafeDumper):  # type: ignore[misc,unused-ignore]  # typed with types-pyyaml
    """Writes multi-line strings as literal blocks, so JSONL stays one record a line."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_LiteralDumper.add_representer(str, _str_presenter)


def _readable(body: Any) -> Any:
    """``{"string": bytes}`` → ``{"json": ...}``, ``{"multipart": text}`` or ``{"string": text}``.

    Multipart request bodies lose their CRLFs (only the matcher reads them back, and it
    compares with plain newlines), so the uploaded JSONL shows one request a line.
    """
    if not isinstance(body, dict) or "string" not in body:
        return body
    raw = body["string"]
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return body
    if isinstance(raw, str) and raw.startswith("--") and "\r\n" in raw:
        return {"multipart": raw.replace("\r\n", "\n")}
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        try:
            return {"json": json.loads(raw)}
        except ValueError:
            pass
    return {"string": raw}


def _restore(body: Any) -> Any:
    if isinstance(body, dict) and "json" in body:
        return {"string": json.dumps(body["json"], ensure_ascii=False)}
    if isinstance(body, dict) and "multipart" in body:
        return {"string": body["multipart"]}
    return body


class ReadableYamlSerializer:
    """vcrpy serializer that keeps bodies human-readable (see the module docstring)."""

    @staticmethod
    def serialize(cassette_dict: dict[str, Any]) -> str:
        """Cassette dict → YAML text."""
        for interaction in cassette_dict.get("interactions", []):
            request = interaction["request"]
            request["body"] = _readable({"string": request.get("body")})
            response = interaction["response"]
            response["body"] = _readable(response.get("body"))
        return str(
            yaml.dump(cassette_dict, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True)
        )

    @staticmethod
    def deserialize(cassette_string: str) -> dict[str, Any]:
        """YAML text → cassette dict."""
        data: dict[str, Any] = yaml.safe_load(cassette_string) or {}
        interactions = []
        for interaction in data.get("interactions", []):
            # Copies: YAML anchors may make two interactions share one dict.
            request = dict(interaction["request"])
            request["body"] = _restore(request.get("body")).get("string")
            response = dict(interaction["response"])
            response["body"] = _restore(response.get("body"))
            interactions.append({"request": request, "response": response})
        data["interactions"] = interactions
        return data


def register_with(vcr: Any) -> None:
    """Register the ``lmbatch_body`` matcher and ``lmbatch_yaml`` serializer on a VCR.

    Called by the pytest plugin's ``pytest_recording_configure`` hook for every cassette.
    """
    vcr.register_matcher(BODY_MATCHER, match_body)
    vcr.register_serializer(SERIALIZER, ReadableYamlSerializer)
