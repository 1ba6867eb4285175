"""Realistic, deterministic workloads: the requests a user sends and the lines a vendor returns.

Everything starts from plain *source records* (what a user has loaded from their own data:
prompt text, an optional system prompt and earlier turns, an optional image URL), so that
lmbatch and the hand-written baselines begin from the same place.

Request mix (per 100): 50 single prompts, 25 multi-turn conversations with a system prompt,
15 single prompts that ask for structured output (a ``response_schema``; hyperparameters
apply to a whole call, so these form their own group), 10 prompts with an image URL.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

MODEL_OPENAI = "gpt-4.1-mini"
MODEL_ANTHROPIC = "claude-sonnet-4-5"
MAX_TOKENS = 300
TEMPERATURE = 0.2

#: The structured-output group's schema, as a user would write it.
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "confidence": {"type": "number"},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
}
SCHEMA_NAME = "response"  # the name lmbatch gives a schema passed as a dict


class Answer(BaseModel):
    """The same schema as a pydantic model: the typed way to ask for structured output."""

    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasons: list[str]


_WORDS = [
    "the",
    "report",
    "quarterly",
    "revenue",
    "customer",
    "support",
    "ticket",
    "summary",
    "contract",
    "clause",
    "liability",
    "invoice",
    "shipment",
    "delayed",
    "warehouse",
    "inventory",
    "forecast",
    "model",
    "accuracy",
    "regression",
    "patient",
    "discharge",
    "note",
    "medication",
    "dosage",
    "review",
    "article",
    "abstract",
    "method",
    "result",
    "conclusion",
    "translate",
    "sentence",
    "paragraph",
    "français",
    "naïve",
    "café",
    "résumé",
    "東京",
    "データ",
    "classify",
    "sentiment",
    "extract",
    "entities",
    "dates",
    "amounts",
    "parties",
    "obligations",
    "termination",
]


@dataclass(frozen=True)
class SourceRecord:
    """One request as a user holds it before choosing how to send it."""

    key: str
    prompt: str
    system: str | None = None
    history: tuple[tuple[str, str], ...] = ()  # (user, assistant) turns before `prompt`
    image_url: str | None = None
    structured: bool = False


@dataclass
class Workload:
    """Source records split into the groups that are sent as separate calls."""

    plain: list[SourceRecord] = field(default_factory=list)
    structured: list[SourceRecord] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Requests in all groups."""
        return len(self.plain) + len(self.structured)


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def make_workload(count: int, seed: int = 7) -> Workload:
    """``count`` source records in the documented mix, the same for the same arguments."""
    rng = random.Random(seed)
    workload = Workload()
    for index in range(count):
        key = f"req-{index:07d}"
        slot = index % 20
        prompt = _text(rng, 40, 220)
        if slot < 10:
            workload.plain.append(SourceRecord(key, prompt))
        elif slot < 15:
            history = tuple((_text(rng, 10, 60), _text(rng, 20, 120)) for _ in range(2))
            workload.plain.append(
                SourceRecord(key, prompt, system=_text(rng, 15, 40), history=history)
            )
        elif slot < 18:
            workload.structured.append(SourceRecord(key, prompt, structured=True))
        else:
            url = f"https://images.example.com/catalogue/{index:07d}.png"
            workload.plain.append(SourceRecord(key, prompt, image_url=url))
    return workload


# ------------------------------------------------------------------------- result lines


def _usage_responses(rng: random.Random) -> dict[str, Any]:
    input_tokens = rng.randint(60, 900)
    output_tokens = rng.randint(20, 300)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": rng.choice((0, 0, 0, 256))},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _answer(rng: random.Random, structured: bool) -> str:
    if structured:
        return json.dumps(
            {
                "label": rng.choice(("positive", "negative", "neutral")),
                "confidence": round(rng.random(), 3),
                "reasons": [_text(rng, 5, 15) for _ in range(rng.randint(1, 3))],
            }
        )
    return _text(rng, 60, 200)


def _error_line(custom_id: str, index: int) -> dict[str, Any]:
    return {
        "id": f"batch_req_{index:08x}",
        "custom_id": custom_id,
        "response": {
            "status_code": 429,
            "request_id": f"req_{index:08x}",
            "body": {
                "error": {
                    "message": "Rate limit reached for requests",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
        },
        "error": None,
    }


def openai_responses_lines(count: int, structured: bool = False, seed: int = 11) -> list[str]:
    """``/v1/responses`` output-file lines (~1–2 KB), 2 % of them errors."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        custom_id = f"req-{index:07d}"
        if index % 50 == 49:
            lines.append(json.dumps(_error_line(custom_id, index)))
            continue
        body = {
            "id": f"resp_{index:032x}",
            "object": "response",
            "created_at": 1764400000 + index,
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": MAX_TOKENS,
            "model": "gpt-4.1-mini-2025-04-14",
            "output": [
                {
                    "id": f"msg_{index:032x}",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [
                        {
                            "type": "output_text",
                            "annotations": [],
                            "logprobs": [],
                            "text": _answer(rng, structured),
                        }
                    ],
                }
            ],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": True,
            "temperature": TEMPERATURE,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": _usage_responses(rng),
            "user": None,
            "metadata": {},
        }
        record = {
            "id": f"batch_req_{index:08x}",
            "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": f"req_{index:08x}", "body": body},
            "error": None,
        }
        lines.append(json.dumps(record))
    return lines


def openai_chat_lines(count: int, structured: bool = False, seed: int = 13) -> list[str]:
    """``/v1/chat/completions`` output-file lines (~1–2 KB), 2 % of them errors."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        custom_id = f"req-{index:07d}"
        if index % 50 == 49:
            lines.append(json.dumps(_error_line(custom_id, index)))
            continue
        prompt_tokens = rng.randint(60, 900)
        completion_tokens = rng.randint(20, 300)
        body = {
            "id": f"chatcmpl-{index:029x}",
            "object": "chat.completion",
            "created": 1764400000 + index,
            "model": "gpt-4.1-mini-2025-04-14",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": _answer(rng, structured),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_6f2eabb9a5",
        }
        record = {
            "id": f"batch_req_{index:08x}",
            "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": f"req_{index:08x}", "body": body},
            "error": None,
        }
        lines.append(json.dumps(record))
    return lines


def anthropic_lines(count: int, seed: int = 17) -> list[str]:
    """Message Batches result lines (~1–2 KB), 2 % of them errored."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        custom_id = f"req-{index:07d}"
        if index % 50 == 49:
            result: dict[str, Any] = {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"},
                    "request_id": f"req_{index:024x}",
                },
            }
        else:
            result = {
                "type": "succeeded",
                "message": {
                    "id": f"msg_{index:024x}",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL_ANTHROPIC,
                    "content": [{"type": "text", "text": _answer(rng, False)}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": rng.randint(60, 900),
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": rng.choice((0, 0, 0, 256)),
                        "output_tokens": rng.randint(20, 300),
                        "service_tier": "batch",
                    },
                },
            }
        lines.append(json.dumps({"custom_id": custom_id, "result": result}))
    return lines
