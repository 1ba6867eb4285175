"""Every hook in ``lmbatch.hookspecs`` is documented, with its signature, on the hook page."""

from __future__ import annotations

import inspect

import pluggy

from lmbatch import hookspecs
from tests.docs.conftest import DOCS

HOOK_PAGE = DOCS / "plugins" / "hooks.md"


def hook_specs() -> dict[str, object]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: function
        for name, function in vars(hookspecs).items()
        if callable(function) and hasattr(function, marker)
    }


def signature_text(function: object) -> str:
    """``name(param: Annotation, ...) -> Return``, annotations as written in the source."""
    assert callable(function)
    signature = inspect.signature(function)
    params = ", ".join(
        f"{name}: {param.annotation}" for name, param in signature.parameters.items()
    )
    return f"{function.__name__}({params}) -> {signature.return_annotation}"


def test_hookspecs_are_found() -> None:
    assert {"lmbatch_register_providers", "lmbatch_register_emulator_vendors"} <= set(hook_specs())
    assert isinstance(hookspecs.hookspec, pluggy.HookspecMarker)


def test_every_hook_is_documented_with_its_signature() -> None:
    page = HOOK_PAGE.read_text(encoding="utf-8")
    for name, function in hook_specs().items():
        assert f"## `{name}`" in page, f"{name} has no section in {HOOK_PAGE.name}"
        assert signature_text(function) in page, (
            f"{HOOK_PAGE.name} does not show the signature {signature_text(function)}"
        )
        assert f"::: lmbatch.hookspecs.{name}" in page, f"{name}: its docstring is not rendered"


def test_no_documented_hook_is_gone() -> None:
    page = HOOK_PAGE.read_text(encoding="utf-8")
    documented = {line[4:-1] for line in page.splitlines() if line.startswith("## `lmbatch_")}
    assert documented == set(hook_specs())
