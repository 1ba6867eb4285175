"""Turning batches and results into JSON lines and rich tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lmbatch._attempts import JOB_ID_METADATA_KEY
from lmbatch._outputs import LMOutput
from lmbatch._status import BatchInfo, BatchStatus
from lmbatch.cli._terminal import PlainWhenPipedConsole

__all__ = [
    "RESULT_COLUMNS",
    "batch_table",
    "counts_summary",
    "info_json",
    "result_record",
    "results_table",
    "stdout_console",
    "to_json",
]

_STATUS_STYLES = {
    BatchStatus.FINISHED: "green",
    BatchStatus.FAILED: "red",
    BatchStatus.EXPIRED: "yellow",
    BatchStatus.CANCELLED: "yellow",
    BatchStatus.CANCELING: "yellow",
    BatchStatus.IN_PROGRESS: "cyan",
}


def stdout_console() -> Console:
    """A console on stdout: in a terminal, colours and word wrap; piped, plain unwrapped
    lines, tables included (see :mod:`lmbatch.cli._terminal`)."""
    console = PlainWhenPipedConsole(highlight=False)
    console.soft_wrap = not console.is_terminal
    return console


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)  # amounts of money (USD)
    if isinstance(value, Enum):
        return value.value
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON text (datetimes as ISO 8601, enums as their values)."""
    return json.dumps(value, default=_default, indent=indent, ensure_ascii=False)


def info_json(info: Mapping[str, Any], *, raw: bool = False) -> dict[str, Any]:
    """A :class:`BatchInfo` as JSON-able data; the vendor payload only when ``raw``."""
    data = {name: value for name, value in info.items() if raw or name != "raw"}
    if "batches" in data:
        data["batches"] = [info_json(part, raw=raw) for part in data["batches"]]
    result: dict[str, Any] = json.loads(to_json(data))
    return result


#: The fields of a result line after ``key`` (and the request file's extra fields), with
#: the column type a CSV or Parquet results file gives each; nested values are JSON text.
RESULT_COLUMNS: dict[str, str] = {
    "ok": "bool",
    "finish_reason": "string",
    "model": "string",
    "text": "string",
    "structured": "json",
    "tool_calls": "json",
    "refusal": "string",
    "thinking": "string",
    "error": "json",
    "usage": "json",
    "cost": "float64",
}


def result_record(
    key: str, output: LMOutput, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One line of a results file: the key, the request's extra fields, and its outcome."""
    record: dict[str, Any] = {"key": key, **(extra or {}), "ok": output.ok}
    # Why generation stopped (stop, length, content_filter...): "ok" with "length" is a
    # cut-off answer.
    record["finish_reason"] = output.finish_reason
    model = output.finish_details.get("model")
    if model is not None:
        record["model"] = model
    if output.text is not None:
        record["text"] = output.text
    if output.structured_output is not None:
        record["structured"] = output.structured_output
    if output.tool_calls:
        record["tool_calls"] = [call.model_dump(mode="json") for call in output.tool_calls]
    if output.refusal is not None:
        record["refusal"] = output.refusal
    thinking = output.thinking
    if thinking:
        record["thinking"] = "\n\n".join(item.text for item in thinking)
    record["error"] = output.error.model_dump(mode="json") if output.error else None
    record["usage"] = output.token_usage.model_dump(mode="json") if output.token_usage else None
    # USD with the batch discount; null when the model has no known price.
    record["cost"] = float(output.cost.total) if output.cost is not None else None
    return record


def status_text(status: BatchStatus) -> Text:
    """A status word, coloured by how things went."""
    return Text(status.value, style=_STATUS_STYLES.get(status, ""))


def counts_summary(info: BatchInfo) -> str:
    """``7/10 done (6 ok, 1 errored)``, or what is known."""
    counts = info["request_counts"]
    total = counts["total"]
    failed = counts["errored"] + counts["expired"] + counts["cancelled"]
    done = counts["succeeded"] + failed
    if not total:
        return "counts not reported yet"
    parts = [f"{counts['succeeded']} ok"]
    parts += [f"{counts[n]} {n}" for n in ("errored", "expired", "cancelled") if counts[n]]
    return f"{done}/{total} done ({', '.join(parts)})"


def batch_table(infos: Iterable[BatchInfo], *, title: str | None = None) -> Table:
    """A table of batches: id, status, counts, model, created."""
    table = Table(title=title, title_justify="left")
    table.add_column("id", overflow="fold")
    table.add_column("job", overflow="fold")
    table.add_column("status")
    table.add_column("requests")
    table.add_column("model")
    table.add_column("created")
    for info in infos:
        created = info.get("created_at")
        metadata = info.get("metadata") or {}
        job_id = metadata.get(JOB_ID_METADATA_KEY, "")
        table.add_row(
            info["id"],
            job_id if job_id != info["id"] else "",
            status_text(info["status"]),
            counts_summary(info),
            info.get("model") or "",
            created.strftime("%Y-%m-%d %H:%M") if isinstance(created, datetime) else "",
        )
    return table


def results_table(records: Iterable[dict[str, Any]], *, width: int = 60) -> Table:
    """A table of result records (as made by :func:`result_record`)."""
    table = Table(show_lines=False)
    table.add_column("key", overflow="fold")
    table.add_column("outcome")
    table.add_column("answer", overflow="fold", max_width=width)
    table.add_column("tokens", justify="right")
    for record in records:
        error = record.get("error")
        if error:
            outcome = Text(error["kind"], style="red")
            answer = error.get("message") or error.get("code") or ""
        else:
            outcome = Text("ok", style="green")
            if "structured" in record:
                answer = to_json(record["structured"])
            else:
                answer = record.get("text") or record.get("refusal") or ""
        usage = record.get("usage")
        tokens = f"{usage['input_tokens']}+{usage['output_tokens']}" if usage else ""
        table.add_row(record["key"], outcome, answer.strip(), tokens)
    return table
