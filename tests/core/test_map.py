"""``lmbatch.map``: tables in, the same tables out, through one batch job (fake provider)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest

import lmbatch
from lmbatch import ValidationError
from lmbatch._keys import strip_job_tag
from lmbatch.testing import default_backend

ROWS = [
    {"id": 3, "review": "Loved it", "stars": 5.0},
    {"id": 1, "review": "Broke on day one", "stars": 1.0},
    {"id": 2, "review": "Fine", "stars": None},
]
RESULT_COLUMNS = [
    "text",
    "ok",
    "error",
    "finish_reason",
    "model",
    "input_tokens",
    "output_tokens",
    "cost",
]


@pytest.fixture(autouse=True)
def fresh_backend() -> Iterator[None]:
    default_backend.reset()
    yield
    default_backend.reset()


def _options(tmp_path: Path) -> dict[str, Any]:
    return {
        "provider": "fake",
        "store": str(tmp_path / "jobs.sqlite3"),
        "status_check_interval": 0,
    }


def _submitted() -> int:
    """Requests the fake vendor received, over every batch."""
    return sum(len(batch.records) for batch in default_backend.batches.values())


async def test_rows_come_back_in_order_with_their_columns_and_the_results(
    tmp_path: Path,
) -> None:
    out = await lmbatch.map(ROWS, "Review: {review}", **_options(tmp_path))
    assert [row["id"] for row in out] == [3, 1, 2]
    assert list(out[0]) == ["id", "review", "stars", *RESULT_COLUMNS]
    assert out[1]["text"] == "echo: Review: Broke on day one"
    assert out[2]["stars"] is None
    assert all(row["ok"] and row["error"] is None for row in out)
    assert out[0]["finish_reason"] == "stop"  # normalised: the fake's "end_turn"
    assert out[0]["model"] == "fake-model"
    assert out[0]["input_tokens"] == 3  # the fake counts the words sent


def test_map_sync_runs_the_same_job(tmp_path: Path) -> None:
    out = lmbatch.map_sync(ROWS, "Review: {review}", **_options(tmp_path))
    assert [row["text"] for row in out] == [f"echo: Review: {r['review']}" for r in ROWS]


async def test_a_pyarrow_table_keeps_its_schema_and_gains_typed_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    table = pa.table(
        {
            "id": pa.array([3, 1, 2], pa.int32()),
            "review": ["Loved it", "Broke on day one", "Fine"],
            "when": pa.array([datetime.date(2024, 1, d) for d in (1, 2, 3)], pa.date32()),
            "tags": [["a"], [], ["b", "c"]],
        }
    )
    out = await lmbatch.map(table, "Review: {review}", **_options(tmp_path))
    assert isinstance(out, pa.Table)
    assert out.schema.field("id").type == pa.int32()
    assert out.schema.field("when").type == pa.date32()
    assert out.schema.field("tags").type == pa.list_(pa.string())
    assert out.schema.field("ok").type == pa.bool_()
    assert out.schema.field("input_tokens").type == pa.int64()
    assert out.column("id").to_pylist() == [3, 1, 2]
    assert out.column("text").to_pylist()[2] == "echo: Review: Fine"


async def test_a_pandas_frame_keeps_its_index_dtypes_and_order(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "id": [3, 1, 2],
            "review": ["Loved it", "Broke on day one", "Fine"],
            "stars": [5.0, 1.0, float("nan")],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "kind": pd.Categorical(["x", "y", "x"]),
        },
        index=["r3", "r1", "r2"],
    )
    out = await lmbatch.map(frame, "Review: {review}", **_options(tmp_path))
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == ["r3", "r1", "r2"]
    assert list(out.columns) == [*frame.columns, *RESULT_COLUMNS]
    for column in frame.columns:
        assert out[column].dtype == frame[column].dtype, column
    pd.testing.assert_frame_equal(out[list(frame.columns)], frame)
    assert out["ok"].dtype == "boolean"
    assert out["input_tokens"].dtype == "Int64"
    assert out.loc["r1", "text"] == "echo: Review: Broke on day one"


async def test_a_polars_frame_comes_back_a_polars_frame(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    pytest.importorskip("pyarrow")
    frame = pl.DataFrame(
        {"id": [3, 1, 2], "review": ["Loved it", "Broke on day one", "Fine"]},
        schema={"id": pl.Int16, "review": pl.String},
    )
    out = await lmbatch.map(frame, "Review: {review}", **_options(tmp_path))
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["id", "review", *RESULT_COLUMNS]
    assert out.schema["id"] == pl.Int16
    assert out.schema["ok"] == pl.Boolean
    assert out["id"].to_list() == [3, 1, 2]
    assert out["text"][0] == "echo: Review: Loved it"


async def test_an_in_memory_dataset_comes_back_a_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_list(
        [{"id": r["id"], "review": r["review"]} for r in ROWS],
        features=datasets.Features(
            {"id": datasets.Value("int16"), "review": datasets.Value("string")}
        ),
    )
    out = await lmbatch.map(dataset, "Review: {review}", **_options(tmp_path))
    assert isinstance(out, datasets.Dataset)
    assert out.features["id"] == datasets.Value("int16")
    assert out.features["ok"] == datasets.Value("bool")
    assert out["id"] == [3, 1, 2]
    assert out["text"][1] == "echo: Review: Broke on day one"


async def test_a_dataset_on_disk_gets_its_results_in_a_memory_mapped_file(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    saved = tmp_path / "saved"
    datasets.Dataset.from_list([{"id": i, "review": f"r{i}"} for i in range(2500)]).save_to_disk(
        saved
    )
    dataset = datasets.load_from_disk(str(saved))
    assert dataset.cache_files  # memory-mapped, not in memory
    out = await lmbatch.map(dataset, "Review: {review}", **_options(tmp_path))
    assert len(out) == 2500
    assert out.cache_files  # the result columns too
    assert out[2499] == {**dataset[2499], **out.select_columns(RESULT_COLUMNS)[2499]}
    assert out["text"][1234] == "echo: Review: r1234"


async def test_a_template_naming_a_missing_column_is_refused_before_sending(
    tmp_path: Path,
) -> None:
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(ValidationError, match=r"column 'revew', which row 0 .*review"):
        await lmbatch.map(pa.Table.from_pylist(ROWS), "Review: {revew}", **_options(tmp_path))
    rows = [{"review": "a"}, {"review": "b"}, {"text_": "c"}]
    with pytest.raises(ValidationError, match=r"column 'review', which row 2 of the rows"):
        await lmbatch.map(rows, "Review: {review}", **_options(tmp_path))
    with pytest.raises(ValidationError, match=r"system template names column 'lang'"):
        await lmbatch.map(ROWS, "{review}", system="Answer in {lang}", **_options(tmp_path))
    assert default_backend.calls["submit"] == 0


async def test_duplicate_keys_are_refused_naming_both_rows(tmp_path: Path) -> None:
    rows = [{"id": "a", "q": "x"}, {"id": "b", "q": "y"}, {"id": "a", "q": "z"}]
    with pytest.raises(ValidationError, match=r"rows 0 and 2 of the rows have the same key 'a'"):
        await lmbatch.map(rows, "{q}", key="id", **_options(tmp_path))
    with pytest.raises(ValidationError, match=r"rows 0 and 1 .* same key 'k'"):
        await lmbatch.map(rows, "{q}", key=lambda row: "k", **_options(tmp_path))
    assert default_backend.calls["submit"] == 0


async def test_identical_rows_are_asked_once_and_both_answered(tmp_path: Path) -> None:
    rows = [{"q": "same"}, {"q": "other"}, {"q": "same"}]
    out = await lmbatch.map(rows, "Q: {q}", **_options(tmp_path))
    assert _submitted() == 2
    assert [row["text"] for row in out] == ["echo: Q: same", "echo: Q: other", "echo: Q: same"]


async def test_running_the_same_map_again_re_attaches_instead_of_paying_twice(
    tmp_path: Path,
) -> None:
    first = await lmbatch.map(ROWS, "Review: {review}", **_options(tmp_path))
    assert default_backend.calls["submit"] == 1
    again = await lmbatch.map(ROWS, "Review: {review}", **_options(tmp_path))
    assert default_backend.calls["submit"] == 1
    assert again == first
    # Another prompt is another job.
    await lmbatch.map(ROWS, "Summarise: {review}", **_options(tmp_path))
    assert default_backend.calls["submit"] == 2


async def test_the_default_key_is_a_stable_hash_of_the_row(tmp_path: Path) -> None:
    from lmbatch._map import row_hash_key

    key = row_hash_key({"id": 1, "review": "x", "stars": None})
    assert key == row_hash_key({"id": 1, "review": "x", "stars": None})
    assert key != row_hash_key({"id": 1, "review": "x", "stars": 0})
    assert key != row_hash_key({"ID": 1, "review": "x", "stars": None})
    assert key.startswith("row-")
    assert len(key) == 44


async def test_key_columns_and_functions_name_the_requests(tmp_path: Path) -> None:
    out = await lmbatch.map(ROWS, "Review: {review}", key="id", **_options(tmp_path))
    custom_ids = sorted(
        strip_job_tag(record["custom_id"])
        for batch in default_backend.batches.values()
        for record in batch.records
    )
    assert custom_ids == ["1", "2", "3"]
    assert [row["id"] for row in out] == [3, 1, 2]


async def test_failed_rows_say_why_and_the_others_still_answer(tmp_path: Path) -> None:
    rows = [{"q": "fine"}, {"q": "bad [[lmbatch:error=400]]"}]
    out = await lmbatch.map(rows, "{q}", resubmit=False, **_options(tmp_path))
    assert out[0]["ok"] is True
    assert out[1]["ok"] is False
    assert out[1]["text"] is None
    assert out[1]["error"].startswith("errored: ")


class Label(pydantic.BaseModel):
    label: Literal["positive", "negative"]
    score: float
    votes: int
    sure: bool
    tags: list[str]


class Detail(pydantic.BaseModel):
    summary: str
    label: Label | None


async def test_a_response_schema_becomes_typed_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pylist(ROWS)
    out = await lmbatch.map(table, "Review: {review}", response_schema=Detail, **_options(tmp_path))
    assert "text" not in out.column_names
    assert out.schema.field("summary").type == pa.string()
    label = out.schema.field("label").type
    assert pa.types.is_struct(label)
    assert label.field("label").type == pa.string()
    assert label.field("score").type == pa.float64()
    assert label.field("votes").type == pa.int64()
    assert label.field("sure").type == pa.bool_()
    assert label.field("tags").type == pa.list_(pa.string())
    first = out.to_pylist()[0]
    assert Detail.model_validate({"summary": first["summary"], "label": first["label"]})


async def test_parse_adds_columns(tmp_path: Path) -> None:
    def parse(row: dict[str, Any], output: lmbatch.LMOutput) -> dict[str, Any]:
        return {"length": len(output.text or ""), "long": row["id"] > 1}

    pa = pytest.importorskip("pyarrow")
    out = await lmbatch.map(
        pa.Table.from_pylist(ROWS), "{review}", parse=parse, **_options(tmp_path)
    )
    assert out.column_names[-2:] == ["length", "long"]
    assert out.schema.field("length").type == pa.int64()
    assert out.column("long").to_pylist() == [True, False, True]


async def test_a_prompt_function_and_a_system_template(tmp_path: Path) -> None:
    def prompt(row: dict[str, Any]) -> list[lmbatch.Message]:
        return [lmbatch.Message.user(f"Rate: {row['review']}")]

    rows = [{"review": "ok", "lang": "French"}]
    out = await lmbatch.map(rows, prompt, system="Answer in {lang}", **_options(tmp_path))
    assert out[0]["text"] == "echo: Rate: ok"
    (batch,) = default_backend.batches.values()
    messages = batch.records[0]["messages"]
    assert messages[0]["role"] == "system"
    assert messages[0]["contents"] == ["Answer in French"]


async def test_result_columns_may_not_overwrite_input_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(ValidationError, match=r"already has column\(s\) 'text'"):
        await lmbatch.map(pa.Table.from_pylist([{"text": "x"}]), "{text}", **_options(tmp_path))


async def test_a_parquet_file_in_and_out_from_python(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    source = tmp_path / "in.parquet"
    parquet.write_table(pa.Table.from_pylist(ROWS), source)
    written = await lmbatch.map(
        source, "Review: {review}", output=tmp_path / "out.parquet", **_options(tmp_path)
    )
    assert written == tmp_path / "out.parquet"
    out = parquet.read_table(written)
    assert out.column("id").to_pylist() == [3, 1, 2]
    assert out.column_names == ["id", "review", "stars", *RESULT_COLUMNS]


async def test_rows_that_are_not_a_table_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="iterable of mappings"):
        await lmbatch.map("abc", "{x}", **_options(tmp_path))
    with pytest.raises(ValidationError, match="row 1 is a int"):
        await lmbatch.map([{"x": 1}, 2], "{x}", **_options(tmp_path))
    with pytest.raises(ValidationError, match="no rows"):
        await lmbatch.map([], "{x}", **_options(tmp_path))


def test_the_jsonl_output_is_plain_json(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    written = lmbatch.map_sync(
        source, "{review}", output=tmp_path / "out.jsonl", **_options(tmp_path)
    )
    lines = [json.loads(line) for line in Path(written).read_text().splitlines()]
    assert [line["id"] for line in lines] == [3, 1, 2]
    assert lines[0]["ok"] is True


async def test_the_cost_column_holds_what_each_request_cost(tmp_path: Path) -> None:
    emulator_module = pytest.importorskip("lmbatch.testing.emulator")
    pytest.importorskip("genai_prices")
    async with emulator_module.Emulator() as emulator:
        out = await lmbatch.map(
            ROWS,
            "Review: {review}",
            provider="openai",
            model="gpt-4.1-mini",
            base_url=emulator.openai_base_url,
            api_key="local",
            store=str(tmp_path / "jobs.sqlite3"),
            status_check_interval=0,
        )
    assert all(isinstance(row["cost"], float) for row in out)
    assert all(row["cost"] > 0 for row in out)
    free = await lmbatch.map(ROWS, "Review: {review}", **_options(tmp_path))
    assert [row["cost"] for row in free] == [None, None, None]  # the fake has no price
