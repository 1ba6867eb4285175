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
  (``http://127.0.0.1:PORT``) but stored with the vendor's host, in URIs and in response
  bodies (Anthropic's absolute ``results_url``), so replay needs no emulator and the
  cassettes read like vendor traffic.
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

import json
import re
from collections.abc import Callable
from typing import Any

import yaml

__all__ = [
    "BODY_MATCHER",
    "CASSETTE_JOB_TAG",
    "DUMMY_API_KEY",
    "FILTERED_HEADERS",
    "SERIALIZER",
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


def vcr_config_for(vendor_origin: str, **overrides: Any) -> dict[str, Any]:
    """The ``vcr_config`` for one vendor.

    Args:
        vendor_origin: Scheme and host of the vendor API, e.g. ``"https://api.openai.com"``;
            local emulator origins are rewritten to it when recording.
        **overrides: Extra ``vcr.use_cassette`` arguments (never ``record_mode``).

    Returns:
        Keyword arguments for ``vcr.use_cassette`` (pytest-recording's ``vcr_config``).
    """
    if "record_mode" in overrides:
        raise ValueError("do not pin record_mode: it overrides --record-mode")
    config: dict[str, Any] = {
        "serializer": SERIALIZER,
        "match_on": ("method", "scheme", "host", "port", "path", "query", BODY_MATCHER),
        "filter_headers": sorted(FILTERED_HEADERS),
        "filter_query_parameters": list(FILTERED_QUERY_PARAMETERS),
        "decode_compressed_response": True,
        "before_record_request": rewrite_request(vendor_origin),
        "before_record_response": scrub_response(vendor_origin),
        "path_transformer": _with_cassette_suffix,
    }
    config.update(overrides)
    return config


def uses_lmbatch_cassettes(vcr_config: dict[str, Any]) -> bool:
    """Whether a test's ``vcr_config`` came from :func:`vcr_config_for` (its opt-in)."""
    return vcr_config.get("serializer") == SERIALIZER


def _with_cassette_suffix(path: str) -> str:
    return path if path.endswith(CASSETTE_SUFFIX) else path + CASSETTE_SUFFIX


def rewrite_request(vendor_origin: str) -> Callable[[Any], Any]:
    """A ``before_record_request`` hook: local origin → vendor origin, secrets removed."""

    vendor_host = vendor_origin.split("://", 1)[-1]

    def before_record_request(request: Any) -> Any:
        request.uri = _LOCAL_ORIGIN.sub(vendor_origin, request.uri)
        for name in list(request.headers):
            if name.lower() in FILTERED_HEADERS:
                del request.headers[name]
            elif name.lower() == "host":
                request.headers[name] = vendor_host
        return request

    return before_record_request


def scrub_response(vendor_origin: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A ``before_record_response`` hook: drop secret headers, rewrite local origins in bodies."""

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        headers = response.get("headers") or {}
        for name in list(headers):
            if name.lower() in FILTERED_HEADERS:
                del headers[name]
        body = response.get("body") or {}
        raw = body.get("string")
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return response
            body["string"] = _LOCAL_ORIGIN.sub(vendor_origin, text).encode("utf-8")
        elif isinstance(raw, str):
            body["string"] = _LOCAL_ORIGIN.sub(vendor_origin, raw)
        return response

    return before_record_response


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
