"""Chat Completions request and result shapes, shared with the OpenAI provider.

Temporary: these come from ``lmbatch_openai`` until its public OpenAI-compatible base
class lands; then the operations class inherits them instead.
"""

from __future__ import annotations

from lmbatch_openai._decoding import decode_line
from lmbatch_openai._encoding_chat import encode_chat_body, validate_chat_request
from lmbatch_openai._encoding_shared import RESERVED_BODY_KEYS, check_schema
from lmbatch_openai._request_fields import REQUEST_FIELDS

__all__ = [
    "REQUEST_FIELDS",
    "RESERVED_BODY_KEYS",
    "check_schema",
    "decode_line",
    "encode_chat_body",
    "validate_chat_request",
]
