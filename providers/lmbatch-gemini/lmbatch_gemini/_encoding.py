"""How an lmbatch request becomes one Gemini ``GenerateContentRequest``.

Each request is encoded as ``{"custom_id": ..., "request": GenerateContentRequest}`` (the
model is in the create call's URL, not in each request). At submission the ``custom_id``
travels as ``metadata.key`` of an inline request, or as ``key`` of a file line.

Messages:

==============================  ============================================================
lmbatch                         Gemini
==============================  ============================================================
system messages                 ``systemInstruction``: one text part per system message
user / assistant turns          ``contents``, roles ``user`` / ``model``; text → ``{"text"}``
image, PDF, text, audio, video  ``{"inlineData": {"mimeType", "data": base64}}``, or for a
attachment                      URL (a Files API URI...) ``{"fileData": {"mimeType",
                                "fileUri"}}``
``ToolCall`` (assistant)        ``{"functionCall": {"id", "name", "args"}}``
``ToolResult`` (user)           ``{"functionResponse": {"id", "name", "response":
                                {"output": ...}}}`` (``{"error": ...}`` when ``is_error``);
                                the name is the one of the call with the same id
``Message.assistant(...,        ``thoughtSignature`` on the message's first function call
thought_signature=...)``        part (else its first part), so a thinking conversation can
                                go on (the signature comes back as a ``ThinkingOutput``)
==============================  ============================================================

Hyperparameters:

===================  ====================================================================
portable             Gemini
===================  ====================================================================
``max_tokens``       ``generationConfig.maxOutputTokens``
``temperature``      ``generationConfig.temperature``
``top_p``            ``generationConfig.topP``
``stop``             ``generationConfig.stopSequences``
``seed``             ``generationConfig.seed``
``response_schema``  ``generationConfig.responseMimeType = "application/json"`` and
                     ``responseJsonSchema`` (or ``responseSchema``, the OpenAPI subset,
                     with ``structured_output="schema"``)
``tools``            ``tools: [{"functionDeclarations": [{"name", "description",
                     "parametersJsonSchema"}]}]``
``tool_choice``      ``toolConfig.functionCallingConfig``: ``auto`` → ``AUTO``, ``none`` →
                     ``NONE``, ``required`` → ``ANY``, a name → ``ANY`` with
                     ``allowedFunctionNames``
vendor fields        ``thinking_config`` / ``thinkingConfig``, ``top_k``, ``candidate_count``
                     (1 only), penalties, ``response_mime_type``, ``response_modalities``,
                     ``media_resolution``, ... into ``generationConfig``;
                     ``safety_settings``, ``cached_content``, ``tool_config``, ``labels``,
                     ``service_tier``, ``store`` at the request's top level; either
                     spelling (``snake_case`` or ``camelCase``), sent in camelCase (the
                     keys inside too, ``labels`` excepted). Any other name is refused
                     with a did-you-mean, unless given under ``extra_body`` (set at the
                     request's top level as it is; ``generationConfig`` there is merged)
===================  ====================================================================
"""

from __future__ import annotations

import re
from typing import Any

from lmbatch.provider import (
    Attachment,
    Hyperparameters,
    Message,
    MessageRole,
    ResponseSchema,
    ToolCall,
    ToolResult,
    ValidationError,
)

__all__ = [
    "GENERATION_FIELDS",
    "REQUEST_FIELDS",
    "TOP_LEVEL_FIELDS",
    "check_hyperparameters",
    "check_request",
    "encode_request",
    "gemini_schema",
]

#: ``generationConfig`` fields a caller may set through extra hyperparameters (the
#: Developer API's, from google-genai's ``_GenerateContentConfig_to_mldev``).
GENERATION_FIELDS = frozenset(
    {
        "audioTranscriptionConfig",
        "candidateCount",
        "enableEnhancedCivicAnswers",
        "frequencyPenalty",
        "imageConfig",
        "logprobs",
        "mediaResolution",
        "presencePenalty",
        "responseLogprobs",
        "responseMimeType",
        "responseModalities",
        "speechConfig",
        "thinkingConfig",
        "topK",
    }
)
#: ``GenerateContentRequest`` fields a caller may set at the request's top level.
TOP_LEVEL_FIELDS = frozenset(
    {"cachedContent", "labels", "safetySettings", "serviceTier", "store", "toolConfig"}
)
#: Fields lmbatch sets itself, and what to do instead.
_OWNED = {
    "model": "set the provider's `model` option",
    "contents": "pass the conversation as the request itself",
    "systemInstruction": "use Message.system(...)",
    "generationConfig": "pass its fields as hyperparameters (top_k=..., thinking_config=...)",
    "tools": "use the portable `tools` hyperparameter",
    "maxOutputTokens": "use max_tokens",
    "topP": "use top_p",
    "stopSequences": "use stop",
    "responseSchema": "use response_schema",
    "responseJsonSchema": "use response_schema",
}
_STRUCTURED_MIME = "application/json"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _spellings(names: frozenset[str] | set[str]) -> dict[str, str]:
    """Both spellings of each camelCase name → the camelCase name."""
    found: dict[str, str] = {}
    for name in names:
        found[name] = name
        found[_snake(name)] = name
    return found


_GENERATION = _spellings(GENERATION_FIELDS)
_TOP_LEVEL = _spellings(TOP_LEVEL_FIELDS)
_OWNED_NAMES = _spellings(set(_OWNED))
#: Every name core lets through (the owned ones are refused here with what to do
#: instead); any other pass-through name is refused by core with a did-you-mean.
REQUEST_FIELDS = frozenset(_GENERATION) | frozenset(_TOP_LEVEL) | frozenset(_OWNED_NAMES)

#: Mime types Gemini reads, by kind (images, documents, audio, video).
_MIME_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/heic",
        "image/heif",
        "application/pdf",
        "text/plain",
        "audio/wav",
        "audio/mp3",
        "audio/mpeg",
        "audio/aiff",
        "audio/aac",
        "audio/ogg",
        "audio/flac",
        "video/mp4",
        "video/mpeg",
        "video/mov",
        "video/quicktime",
        "video/avi",
        "video/x-flv",
        "video/mpg",
        "video/webm",
        "video/wmv",
        "video/3gpp",
    }
)


# ------------------------------------------------------------------------ validation


def check_hyperparameters(params: Hyperparameters, structured_output: str) -> None:
    """Refuse hyperparameters Gemini cannot take, before anything is sent.

    Raises:
        ValidationError: Naming the hyperparameter and the reason.
    """
    seen: dict[str, str] = {}
    for name in params.extra:
        if name in params.pass_through:
            continue  # extra_body: sent as it is
        if name in _OWNED_NAMES:
            raise ValidationError(f"hyperparameters[{name!r}]: {_OWNED[_OWNED_NAMES[name]]}")
        wire = _GENERATION.get(name) or _TOP_LEVEL.get(name)
        if wire is not None and wire in seen:
            raise ValidationError(
                f"hyperparameters: {seen[wire]!r} and {name!r} are the same field; give one"
            )
        if wire is not None:
            seen[wire] = name
    values = {wire: params.extra[name] for wire, name in seen.items()}
    count = values.get("candidateCount")
    if count is not None and count != 1:
        raise ValidationError(
            "hyperparameters['candidate_count']: lmbatch reads one candidate per request; "
            "send the request several times instead"
        )
    if params.response_schema is not None and "responseMimeType" in values:
        raise ValidationError(
            "hyperparameters['response_mime_type']: response_schema sets it "
            f"({_STRUCTURED_MIME}); give one of them"
        )
    if params.tool_choice is not None and "toolConfig" in values:
        raise ValidationError("give either tool_choice or tool_config, not both")
    if params.tool_choice == "required" and not params.tools:
        raise ValidationError("hyperparameters['tool_choice']: 'required' needs `tools`")
    thinking = values.get("thinkingConfig")
    if thinking is not None and not isinstance(thinking, dict):
        raise ValidationError(
            "hyperparameters['thinking_config']: must be a dict, e.g. "
            "{'thinking_budget': 1024, 'include_thoughts': True}"
        )
    if params.response_schema is not None and structured_output == "schema":
        gemini_schema(params.response_schema.json_schema)  # refuses what cannot convert


def check_request(key: str, messages: list[Message]) -> None:
    """Refuse one request Gemini cannot take (core has checked the conversation shape).

    Raises:
        ValidationError: Naming ``key`` and the reason.
    """
    calls: set[str] = set()
    for index, message in enumerate(messages):
        where = f"message #{index}"
        signature = message.metadata.get("thought_signature")
        if signature is not None and not isinstance(signature, str):
            raise ValidationError(f"{where}: thought_signature must be a string", key=key)
        for part in message.contents:
            if isinstance(part, Attachment) and part.mime_type not in _MIME_TYPES:
                raise ValidationError(
                    f"{where}: Gemini takes png, jpeg, webp, heic and heif images, PDFs, "
                    f"plain text, audio and video, not {part.mime_type}",
                    key=key,
                )
            if isinstance(part, ToolCall):
                calls.add(part.id)
            elif isinstance(part, ToolResult) and part.id not in calls:
                raise ValidationError(
                    f"{where}: tool result {part.id!r} answers no earlier tool call of the "
                    "conversation (Gemini needs the function's name, taken from the call)",
                    key=key,
                )


# ------------------------------------------------------------------------ encoding

# Looked up once: an enum member's class attribute access is slow on Python 3.11.
_SYSTEM = MessageRole.SYSTEM
_ASSISTANT = MessageRole.ASSISTANT


def encode_request(
    custom_id: str, messages: list[Message], params: Hyperparameters, *, structured: str
) -> dict[str, Any]:
    """One request: ``{"custom_id": ..., "request": GenerateContentRequest}``."""
    request: dict[str, Any] = {}
    systems = [m for m in messages if m.role is _SYSTEM]
    if systems:
        request["systemInstruction"] = {"parts": [{"text": m.text} for m in systems]}
    names: dict[str, str] = {}
    contents = []
    for message in messages:
        if message.role is not _SYSTEM:
            contents.append(_content(message, names))
    request["contents"] = contents
    # The settings-only parts are the same for every request of a job: built once.
    request.update(params.derived(f"gemini-request-{structured}", lambda p: _static(p, structured)))
    return {"custom_id": custom_id, "request": request}


def _content(message: Message, names: dict[str, str]) -> dict[str, Any]:
    role = "model" if message.role is _ASSISTANT else "user"
    parts = message.contents
    if len(parts) == 1 and type(parts[0]) is str and not message.metadata:
        return {"role": role, "parts": [{"text": parts[0]}]}
    encoded = [_part(part, names) for part in parts]
    signature = message.metadata.get("thought_signature")
    if signature is not None and encoded:
        target = next((p for p in encoded if "functionCall" in p), encoded[0])
        target["thoughtSignature"] = signature
    return {"role": role, "parts": encoded}


def _part(part: Any, names: dict[str, str]) -> dict[str, Any]:
    if isinstance(part, str):
        return {"text": part}
    if isinstance(part, ToolCall):
        names[part.id] = part.name
        return {"functionCall": {"id": part.id, "name": part.name, "args": dict(part.args)}}
    if isinstance(part, ToolResult):
        answer = {"error": part.output} if part.is_error else {"output": part.output}
        return {
            "functionResponse": {"id": part.id, "name": names.get(part.id, ""), "response": answer}
        }
    assert isinstance(part, Attachment)
    if part.url is not None:
        return {"fileData": {"mimeType": part.mime_type, "fileUri": part.url}}
    return {"inlineData": {"mimeType": part.mime_type, "data": part.base64_data()}}


def _static(params: Hyperparameters, structured: str) -> dict[str, Any]:
    """The request fields that depend on the settings alone."""
    body: dict[str, Any] = {}
    config: dict[str, Any] = {}
    if params.max_tokens is not None:
        config["maxOutputTokens"] = params.max_tokens
    if params.temperature is not None:
        config["temperature"] = params.temperature
    if params.top_p is not None:
        config["topP"] = params.top_p
    if params.stop is not None:
        config["stopSequences"] = list(params.stop)
    if params.seed is not None:
        config["seed"] = params.seed
    if params.response_schema is not None:
        config["responseMimeType"] = _STRUCTURED_MIME
        config.update(_schema_field(params.response_schema, structured))
    raw: dict[str, Any] = {}
    for name, value in params.extra.items():
        if name in params.pass_through:
            raw[name] = value
        elif name in _GENERATION:
            config[_GENERATION[name]] = _camel_keys(value)
        elif name in _TOP_LEVEL:
            wire = _TOP_LEVEL[name]
            # Labels are the caller's own names; every other field is a message type.
            body[wire] = value if wire == "labels" else _camel_keys(value)
    if params.tools:
        declarations = [
            {"name": tool.name, "parametersJsonSchema": tool.parameters}
            | ({"description": tool.description} if tool.description else {})
            for tool in params.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    if params.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(params.tool_choice)}
    if config:
        body["generationConfig"] = config
    # extra_body: the raw escape hatch, at the top level; its generationConfig is merged.
    extra_config = raw.pop("generationConfig", None)
    body.update(raw)
    if isinstance(extra_config, dict):
        body["generationConfig"] = {**body.get("generationConfig", {}), **extra_config}
    elif extra_config is not None:
        body["generationConfig"] = extra_config
    return body


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _camel_keys(value: Any) -> Any:
    """``value`` with every object key in camelCase (``thinking_budget`` → ``thinkingBudget``).

    Google's JSON parser takes both spellings; the wire keeps one, the API's own.
    """
    if isinstance(value, dict):
        return {_camel(str(key)): _camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    return value


def _calling_config(choice: str) -> dict[str, Any]:
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    return {"mode": "ANY", "allowedFunctionNames": [choice]}


def _schema_field(schema: ResponseSchema, structured: str) -> dict[str, Any]:
    if structured == "schema":
        return {"responseSchema": gemini_schema(schema.json_schema)}
    return {"responseJsonSchema": schema.json_schema}


# ------------------------------------------------------------ the OpenAPI-subset schema

_KEPT = {
    "description": "description",
    "format": "format",
    "title": "title",
    "minItems": "minItems",
    "maxItems": "maxItems",
    "minLength": "minLength",
    "maxLength": "maxLength",
    "minProperties": "minProperties",
    "maxProperties": "maxProperties",
    "minimum": "minimum",
    "maximum": "maximum",
    "pattern": "pattern",
    "default": "default",
    "example": "example",
}
_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema as Gemini's ``Schema`` (the OpenAPI 3.0 subset of ``responseSchema``).

    References (``$ref`` into ``$defs``/``definitions``) are inlined, ``type: [T, "null"]``
    and ``anyOf`` with ``null`` become ``nullable``, ``const`` becomes a one-value
    ``enum``, type words are upper case, and ``propertyOrdering`` follows the order of
    ``properties``. Keywords the subset lacks (``additionalProperties``, ``$schema``...)
    are dropped.

    Raises:
        ValidationError: A recursive schema (the subset has no references), or a type
            the subset cannot express.
    """
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _convert(schema, definitions, ())


def _convert(node: Any, definitions: dict[str, Any], trail: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(node, dict):
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in trail:
            raise ValidationError(
                f"hyperparameters['response_schema']: {name!r} refers to itself; Gemini's "
                "responseSchema cannot express that (use structured_output='json_schema')"
            )
        if name not in definitions:
            raise ValidationError(f"hyperparameters['response_schema']: unknown $ref {ref!r}")
        merged = {**definitions[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions, (*trail, name))
    out: dict[str, Any] = {}
    nullable = False
    kind = node.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        others = [k for k in kind if k != "null"]
        if len(others) > 1:
            return _any_of([{**node, "type": k} for k in others], definitions, trail, True)
        kind = others[0] if others else "null"
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        nullable = nullable or any(isinstance(o, dict) and o.get("type") == "null" for o in options)
        real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        if len(real) == 1:
            inner = _convert(real[0], definitions, trail)
            base = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            base_converted = _convert(base, definitions, trail) if base else {}
            merged = {**inner, **{k: v for k, v in base_converted.items() if k != "type"}}
            if nullable:
                merged["nullable"] = True
            return merged
        return _any_of(real, definitions, trail, nullable)
    if isinstance(kind, str):
        if kind not in _TYPES:
            raise ValidationError(f"hyperparameters['response_schema']: unknown type {kind!r}")
        out["type"] = kind.upper()
    for source, target in _KEPT.items():
        if source in node:
            out[target] = node[source]
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    if isinstance(node.get("enum"), list):
        # Gemini's enums are strings.
        out["enum"] = [str(value) for value in node["enum"]]
        out["type"] = "STRING"
    properties = node.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            name: _convert(value, definitions, trail) for name, value in properties.items()
        }
        out["propertyOrdering"] = list(properties)
    if isinstance(node.get("required"), list):
        out["required"] = list(node["required"])
    if "items" in node:
        out["items"] = _convert(node["items"], definitions, trail)
    if nullable:
        out["nullable"] = True
    return out


def _any_of(
    options: list[Any], definitions: dict[str, Any], trail: tuple[str, ...], nullable: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {"anyOf": [_convert(o, definitions, trail) for o in options]}
    if nullable:
        out["nullable"] = True
    return out
