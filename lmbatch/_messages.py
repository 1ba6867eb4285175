"""Inputs: messages and their content parts."""

from __future__ import annotations

import base64
import mimetypes
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmbatch._unchecked import build_unchecked

__all__ = [
    "Attachment",
    "LMInput",
    "Message",
    "MessageContent",
    "MessageRole",
    "ToolCall",
    "ToolResult",
]

# What providers are expected to accept; anything else is refused before sending.
IMAGE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PDF_MIME_TYPE = "application/pdf"


class MessageRole(StrEnum):
    """Who speaks a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class Attachment(BaseModel):
    """A file given to the model: inline bytes or a URL, with its mime type.

    Build one with :meth:`from_path`, :meth:`from_bytes` or :meth:`from_url`. Images
    (png, jpeg, gif, webp) and PDFs are the portable kinds; providers refuse others
    before anything is sent.
    """

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    type: Literal["attachment"] = "attachment"
    mime_type: str
    data: bytes | None = None
    url: str | None = None
    filename: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Attachment:
        if (self.data is None) == (self.url is None):
            raise ValueError("an Attachment needs exactly one of `data` or `url`")
        return self

    @classmethod
    def from_path(cls, path: str | Path, mime_type: str | None = None) -> Attachment:
        """Read a local file; the mime type is guessed from the file name unless given.

        Any path is read: code that calls this chose the file. (The CLI confines the
        ``path`` parts of request files to the file's folder, see ``--allow-path``.)
        """
        file_path = Path(path)
        guessed = mime_type or mimetypes.guess_type(file_path.name)[0]
        if guessed is None:
            raise ValueError(f"cannot tell the mime type of {file_path}; pass mime_type=")
        return cls(mime_type=guessed, data=file_path.read_bytes(), filename=file_path.name)

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str, filename: str | None = None) -> Attachment:
        """Wrap bytes already in memory."""
        return cls(mime_type=mime_type, data=data, filename=filename)

    @classmethod
    def from_url(cls, url: str, mime_type: str | None = None) -> Attachment:
        """Point at a file the provider fetches itself."""
        guessed = mime_type or mimetypes.guess_type(url.split("?", 1)[0])[0]
        if guessed is None:
            raise ValueError(f"cannot tell the mime type of {url!r}; pass mime_type=")
        return cls(mime_type=guessed, url=url)

    @property
    def is_image(self) -> bool:
        """Whether this is one of the portable image types."""
        return self.mime_type in IMAGE_MIME_TYPES

    @property
    def is_pdf(self) -> bool:
        """Whether this is a PDF document."""
        return self.mime_type == PDF_MIME_TYPE

    def base64_data(self) -> str:
        """The inline bytes as base64 text (raises if the attachment is a URL)."""
        if self.data is None:
            raise ValueError("this attachment is a URL, it has no inline data")
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """A `data:` URL for the inline bytes, or the URL itself."""
        if self.url is not None:
            return self.url
        return f"data:{self.mime_type};base64,{self.base64_data()}"


class ToolCall(BaseModel):
    """A call of a tool by the model: in assistant messages and in outputs."""

    model_config = ConfigDict(frozen=True)

    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class ToolResult(BaseModel):
    """The result of a tool call, sent back to the model in a user message."""

    model_config = ConfigDict(frozen=True)

    type: Literal["tool_result"] = "tool_result"
    id: str
    output: str
    is_error: bool = False


ContentPart: TypeAlias = Annotated[Attachment | ToolCall | ToolResult, Field(discriminator="type")]
MessageContent: TypeAlias = str | ContentPart


class Message(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(frozen=True)

    role: MessageRole
    contents: list[MessageContent]
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def system(cls, *contents: MessageContent, **metadata: Any) -> Message:
        """A system (instructions) message."""
        return cls._of(MessageRole.SYSTEM, contents, metadata)

    @classmethod
    def user(cls, *contents: MessageContent, **metadata: Any) -> Message:
        """A user message."""
        return cls._of(MessageRole.USER, contents, metadata)

    @classmethod
    def assistant(cls, *contents: MessageContent, **metadata: Any) -> Message:
        """An assistant message (earlier model output, tool calls included)."""
        return cls._of(MessageRole.ASSISTANT, contents, metadata)

    @classmethod
    def _of(
        cls, role: MessageRole, contents: tuple[MessageContent, ...], metadata: dict[str, Any]
    ) -> Message:
        if cls is Message and all(type(part) is str for part in contents):
            # Text only, the common case: nothing to validate, and conversations are
            # built by the tens of thousands (validation doubled the cost of encoding).
            fields = {"role": role, "contents": list(contents), "metadata": metadata}
            return build_unchecked(cls, fields)
        return cls(role=role, contents=list(contents), metadata=metadata)

    @property
    def text(self) -> str:
        """The text parts of the message joined with blank lines."""
        return "\n\n".join(part for part in self.contents if isinstance(part, str))


#: One request: a string, a list of content parts (one user message), or a conversation.
LMInput: TypeAlias = str | list[MessageContent] | list[Message]
