"""Outputs: what a request came back with, success or failure."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmbatch._cost import Cost
from lmbatch._errors import is_transient_status
from lmbatch._messages import ToolCall
from lmbatch._unchecked import build_unchecked

__all__ = [
    "Cost",
    "ErrorKind",
    "FinishReason",
    "LMError",
    "LMOutput",
    "OutputItem",
    "RefusalOutput",
    "StructuredOutput",
    "TextOutput",
    "ThinkingOutput",
    "TokenUsage",
    "build_unchecked",
    "finish_reason_of",
    "unchecked_success",
]

#: Why a request has no (valid) answer.
#: - ``errored``: the provider answered the request with an error.
#: - ``expired``: the batch's window closed before the request ran.
#: - ``cancelled``: the batch was cancelled before the request ran.
#: - ``missing``: the request was submitted but the provider returned nothing for it.
#: - ``invalid_response``: an answer came back but could not be read (malformed line,
#:   structured output that does not match the schema...).
ErrorKind: TypeAlias = Literal["errored", "expired", "cancelled", "missing", "invalid_response"]


#: Why generation stopped, the same words on every provider (``finish_reason``):
#: - ``stop``: the answer ended naturally (or at a stop sequence);
#: - ``length``: cut off by ``max_tokens`` (or the context window): the answer is partial;
#: - ``content_filter``: cut off by the vendor's content filter;
#: - ``tool_calls``: the model stopped to call tools;
#: - ``refusal``: the model declined to answer;
#: - ``other``: a reason lmbatch does not know (the vendor's word is in
#:   ``finish_details["stop_reason"]``).
FinishReason: TypeAlias = Literal[
    "stop", "length", "content_filter", "tool_calls", "refusal", "other"
]
FINISH_REASONS: frozenset[str] = frozenset(
    {"stop", "length", "content_filter", "tool_calls", "refusal", "other"}
)


class TokenUsage(BaseModel):
    """Tokens billed for a request; add two with ``+``."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )

    def __radd__(self, other: object) -> TokenUsage:
        # Lets sum(usages) start from 0.
        if other == 0:
            return self
        if isinstance(other, TokenUsage):
            return other + self
        return NotImplemented

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class LMError(BaseModel):
    """Why one request has no valid answer.

    Attributes:
        kind: The outcome kind (see :data:`ErrorKind`).
        code: The vendor's error code or type, e.g. ``rate_limit_exceeded``.
        message: Human readable explanation.
        status_code: HTTP status the vendor gave the request, when it had one.
        provider: Name of the provider.
        transient: The vendor said the failure is temporary (a rate limit, an overload,
            a server error): the same request may succeed later, so ``invoke``
            resubmits it. Set by the provider's decoder for its vendor's codes; when not
            given, it follows ``status_code`` (408, 409, 429 and 5xx are transient).
    """

    model_config = ConfigDict(frozen=True)

    kind: ErrorKind
    code: str | None = None
    message: str = ""
    status_code: int | None = None
    provider: str | None = None
    transient: bool = False

    @model_validator(mode="before")
    @classmethod
    def _transient_by_status(cls, data: Any) -> Any:
        # Also what an error stored before the field existed loads with.
        if isinstance(data, dict) and "transient" not in data:
            status = data.get("status_code")
            if isinstance(status, int) and is_transient_status(status):
                return {**data, "transient": True}
        return data


class TextOutput(BaseModel):
    """Text written by the model."""

    model_config = ConfigDict(frozen=True)
    type: Literal["text"] = "text"
    text: str


class StructuredOutput(BaseModel):
    """Structured output (JSON) that follows the requested ``response_schema``."""

    model_config = ConfigDict(frozen=True)
    type: Literal["structured"] = "structured"
    data: Any


class ThinkingOutput(BaseModel):
    """Reasoning the model exposed (a summary or a thinking block)."""

    model_config = ConfigDict(frozen=True)
    type: Literal["thinking"] = "thinking"
    text: str
    signature: str | None = None


class RefusalOutput(BaseModel):
    """The model declined to answer."""

    model_config = ConfigDict(frozen=True)
    type: Literal["refusal"] = "refusal"
    text: str


OutputItem: TypeAlias = Annotated[
    TextOutput | StructuredOutput | ToolCall | ThinkingOutput | RefusalOutput,
    Field(discriminator="type"),
]


class LMOutput(BaseModel):
    """The outcome of one request: its output items, or an error.

    Attributes:
        outputs: What the model produced, in order.
        token_usage: Tokens billed, when the provider reported them.
        finish_details: Why generation stopped and other per-request facts
            (``stop_reason``, ``model``...).
        error: Set when the request has no valid answer; see :attr:`ok`.
        raw: The provider's own payload for this request, when kept.
        cost: What the request cost (USD, batch discount applied), from its token
            usage; zero for failures the vendor billed nothing for; None when the
            model has no known price (see the Cost page of the docs).
        finish_reason: Why generation stopped, normalised across vendors (see
            :data:`FinishReason`); None when there is no answer. A ``length`` or
            ``content_filter`` answer is still ok (it is partial): see ``retry_on``
            and ``treat_as_error`` of :meth:`BatchOperations.invoke`.
    """

    outputs: list[OutputItem] = Field(default_factory=list)
    token_usage: TokenUsage | None = None
    finish_details: dict[str, Any] = Field(default_factory=dict)
    error: LMError | None = None
    raw: dict[str, Any] | None = None
    cost: Cost | None = None
    finish_reason: FinishReason | None = None

    @classmethod
    def failure(
        cls,
        kind: ErrorKind,
        message: str = "",
        *,
        code: str | None = None,
        status_code: int | None = None,
        provider: str | None = None,
        raw: dict[str, Any] | None = None,
        transient: bool | None = None,
    ) -> LMOutput:
        """An output that carries only an error.

        ``transient`` None (the default) follows ``status_code`` (see :class:`LMError`).
        """
        error = LMError(
            kind=kind,
            code=code,
            message=message,
            status_code=status_code,
            provider=provider,
            transient=is_transient_status(status_code) if transient is None else transient,
        )
        return cls(error=error, raw=raw)

    @property
    def ok(self) -> bool:
        """True when the request succeeded."""
        return self.error is None

    @property
    def texts(self) -> list[str]:
        """Every text output, in order."""
        return [item.text for item in self.outputs if isinstance(item, TextOutput)]

    @property
    def text(self) -> str | None:
        """The text outputs joined together, or None when there is no text."""
        texts = self.texts
        return "".join(texts) if texts else None

    @property
    def structured_output(self) -> Any:
        """The first structured output's data, or None."""
        for item in self.outputs:
            if isinstance(item, StructuredOutput):
                return item.data
        return None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call the model made, in order."""
        return [item for item in self.outputs if isinstance(item, ToolCall)]

    @property
    def thinking(self) -> list[ThinkingOutput]:
        """Reasoning items, in order."""
        return [item for item in self.outputs if isinstance(item, ThinkingOutput)]

    @property
    def refusal(self) -> str | None:
        """The refusal text, when the model declined."""
        for item in self.outputs:
            if isinstance(item, RefusalOutput):
                return item.text
        return None

    def parse(self, model: type[Any]) -> Any:
        """Validate the structured output into ``model`` (a pydantic model class)."""
        from pydantic import TypeAdapter

        return TypeAdapter(model).validate_python(self.structured_output)


def unchecked_success(
    outputs: list[OutputItem],
    token_usage: TokenUsage | None,
    finish_details: dict[str, Any],
    raw: dict[str, Any] | None,
    *,
    finish_reason: FinishReason | None = None,
) -> LMOutput:
    """A successful outcome from values a decoder built itself (see ``build_unchecked``)."""
    fields = {
        "outputs": outputs,
        "token_usage": token_usage,
        "finish_details": finish_details,
        "error": None,
        "raw": raw,
        "cost": None,  # set by core, where results are collected
        "finish_reason": finish_reason,
    }
    return build_unchecked(LMOutput, fields)


def finish_reason_of(word: Any, table: dict[str, FinishReason]) -> FinishReason | None:
    """A vendor's stop word as a :data:`FinishReason` (``other`` when not in ``table``)."""
    if word is None:
        return None
    return table.get(str(word), "other")
