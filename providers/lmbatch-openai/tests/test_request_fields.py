"""The generated list of OpenAI request fields matches the vendored OpenAPI spec."""

from __future__ import annotations

import runpy

from .conftest import REPO, SPECS


def test_the_committed_request_fields_module_matches_the_spec() -> None:
    script = runpy.run_path(str(REPO / "scripts" / "generate_openai_request_fields.py"))
    expected = script["render"](script["load_spec"](SPECS))
    committed = (
        REPO / "providers" / "lmbatch-openai" / "lmbatch_openai" / "_request_fields.py"
    ).read_text(encoding="utf-8")
    assert committed == expected, "run scripts/generate_openai_request_fields.py"


def test_the_fields_are_those_of_each_endpoint() -> None:
    from lmbatch_openai._request_fields import REQUEST_FIELDS

    assert {"max_output_tokens", "reasoning", "text"} <= REQUEST_FIELDS["/v1/responses"]
    assert "messages" not in REQUEST_FIELDS["/v1/responses"]
    chat = REQUEST_FIELDS["/v1/chat/completions"]
    assert {"frequency_penalty", "logit_bias", "response_format"} <= chat
    assert "max_output_tokens" not in chat
