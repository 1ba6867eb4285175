"""The cassette tests every provider records: subclass :class:`CassetteSuite`.

:class:`CassetteSuite` holds the recorded-traffic tests of the operations every batch API
has (create, status, retrieve with its outcomes, cancel, list, invoke), the way
:class:`~lmbatch.testing.contract.BatchOperationsContract` holds the behavioural ones. A
provider's ``tests/test_cassettes.py`` subclasses it and declares only what differs: its
:class:`~lmbatch.testing.cassettes.CassetteVendor`, the errors its vendor reports for the
scripted failures, whether its list pages, whether it can cancel; vendor-specific checks go
in the ``check_*`` hooks and vendor-only tests in the subclass::

    from lmbatch.testing.cassette_suite import CassetteSuite


    class TestGroqCassettes(CassetteSuite):
        vendor = GROQ  # a lmbatch.testing.cassettes.CassetteVendor
        batch_id_prefix = "batch_"
        expected_errors = {  # what Groq reports for the scripted failures
            "limited": {"kind": "errored", "status_code": 429},
            "never": {"kind": "expired", "code": "batch_expired"},
        }
        list_page_size = None  # Groq lists every batch in one page

Every test is marked ``vcr`` and replays ``cassettes/<test name>.yaml`` beside the test
module (the class name is not part of it); ``--record-mode=once`` records the missing
ones against the emulator (or live, see :meth:`CassetteVendor.target
<lmbatch.testing.cassettes.CassetteVendor.target>`). The suite supplies the
``cassette_vendor``, ``vcr_config`` and ``vcr_cassette_dir`` fixtures from
:attr:`CassetteSuite.vendor`. Tests are async and need pytest-asyncio
(``asyncio_mode = "auto"``) and pytest-recording.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from lmbatch._errors import OperationUnsupportedError
from lmbatch._messages import Message
from lmbatch._status import BatchStatus

if TYPE_CHECKING:
    from lmbatch._outputs import LMOutput
    from lmbatch.provider import BatchInfo, BatchOperations
    from lmbatch.testing.cassettes import CassetteTarget, CassetteVendor

__all__ = ["CassetteSuite"]

_EXPIRED = {"kind": "expired", "code": "batch_expired"}


class CassetteSuite:
    """Recorded-traffic tests of the common operations; subclass it (see the module doc).

    Set :attr:`vendor`; every other attribute has a default that fits an OpenAI-shaped
    batch API. Tests that do not apply (cancel where the vendor has none, the paged list
    where it lists in one page, and the other way round) are removed from the subclass.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.vcr]

    #: The provider's cassette set-up (required).
    vendor: ClassVar[CassetteVendor]

    # ---------------------------------------------------------------- create
    #: Provider options of ``test_create`` (e.g. a completion window, a priority).
    create_provider_options: ClassVar[Mapping[str, Any]] = {}
    #: Request options of ``test_create``.
    create_options: ClassVar[Mapping[str, Any]] = {"max_tokens": 20, "temperature": 0.2}
    #: Prefix every batch id has (empty: only non-empty is checked).
    batch_id_prefix: ClassVar[str] = ""
    #: ``{test id: provider options}``: ``test_create`` runs once for each (e.g. input by
    #: file and inline), named ``test_create[<test id>]``; empty, it runs once.
    create_variants: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    # ---------------------------------------------------------------- status
    #: Provider options of ``test_status``.
    status_provider_options: ClassVar[Mapping[str, Any]] = {}
    #: Vendor statuses a batch just created may have (empty: not checked).
    running_provider_statuses: ClassVar[tuple[str, ...]] = ()
    #: The vendor status of a finished batch (None: not checked).
    finished_provider_status: ClassVar[str | None] = None
    #: Whether ``info`` counts succeeded requests (``request_counts["succeeded"]``).
    counts_succeeded: ClassVar[bool] = True

    # -------------------------------------------------------------- retrieve
    #: Requests of ``test_retrieve_outcomes``: the emulator's ``[[lmbatch:...]]``
    #: directives script a failed line and a batch that expires before its last request.
    outcome_requests: ClassVar[Mapping[str, str]] = {
        "good": "Say hello",
        "limited": "x [[lmbatch:error=429]]",
        "never": "x [[lmbatch:expire]]",
    }
    #: ``{key: text}`` each answered request must have.
    expected_texts: ClassVar[Mapping[str, str]] = {"good": "echo: Say hello"}
    #: ``{key: {LMError attribute: value}}`` each failed request's error must have.
    expected_errors: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "limited": {"kind": "errored", "status_code": 429, "transient": True},
        "never": _EXPIRED,
    }
    #: The vendor status of the expired batch (None: only ``status`` is checked).
    expired_provider_status: ClassVar[str | None] = None

    # ---------------------------------------------------------------- cancel
    #: Whether the vendor can cancel (False: ``test_cancel_is_unsupported`` instead).
    supports_cancel: ClassVar[bool] = True
    #: Whether every request of a batch cancelled at once comes back cancelled (False:
    #: some may have been answered first).
    cancels_every_request: ClassVar[bool] = False
    #: Statuses the batch may have right after ``cancel`` (empty: not checked).
    statuses_after_cancel: ClassVar[tuple[BatchStatus, ...]] = ()

    # ------------------------------------------------------------------ list
    #: Batches per list page in ``test_list_across_pages``, set through the provider's
    #: ``list_page_size`` option, or its class attribute where it has no such option.
    #: None: the vendor lists in one page (``test_list_in_one_page`` instead).
    list_page_size: ClassVar[int | None] = None

    # ---------------------------------------------------------------- invoke
    #: ``{test id: provider options}`` of ``test_invoke``, like :attr:`create_variants`.
    invoke_variants: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Hide the tests that do not apply to the subclass's vendor from collection."""
        super().__init_subclass__(**kwargs)
        if cls.supports_cancel:
            cls.test_cancel_is_unsupported = None  # type: ignore[assignment,method-assign]
        else:
            cls.test_cancel = None  # type: ignore[assignment,method-assign]
        if cls.list_page_size is None:
            cls.test_list_across_pages = None  # type: ignore[assignment,method-assign]
        else:
            cls.test_list_in_one_page = None  # type: ignore[assignment,method-assign]

    # -------------------------------------------------------------- fixtures

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run ``test_create`` and ``test_invoke`` once per declared variant."""
        for name, variants in (
            ("create_variant", self.create_variants),
            ("invoke_variant", self.invoke_variants),
        ):
            if name in metafunc.fixturenames and variants:
                metafunc.parametrize(name, list(variants.values()), ids=list(variants))

    @pytest.fixture
    def create_variant(self) -> Mapping[str, Any]:
        """Provider options of this ``test_create`` run (none without variants)."""
        return {}

    @pytest.fixture
    def invoke_variant(self) -> Mapping[str, Any]:
        """Provider options of this ``test_invoke`` run (none without variants)."""
        return {}

    @pytest.fixture
    def cassette_vendor(self) -> CassetteVendor:
        """:attr:`vendor`, for the plugin's ``cassette_target``."""
        return self.vendor

    @pytest.fixture
    def vcr_config(self) -> dict[str, Any]:
        """VCR settings of :attr:`vendor` (no record_mode: ``--record-mode`` decides)."""
        return self.vendor.vcr_config()

    @pytest.fixture
    def vcr_cassette_dir(self, request: pytest.FixtureRequest) -> str:
        """``cassettes/`` beside the test module."""
        return str(Path(request.node.path).resolve().parent / "cassettes")

    @pytest.fixture
    def default_cassette_name(self, request: pytest.FixtureRequest) -> str:
        """``<test name>[<params>]``, without pytest-recording's class-name prefix."""
        from pytest_recording.plugin import get_default_cassette_name

        marker = request.node.get_closest_marker("default_cassette")
        if marker is not None:
            return str(marker.args[0])
        return str(get_default_cassette_name(None, request.node.name))

    # ----------------------------------------------------------------- hooks

    async def check_created(self, ops: BatchOperations, batch_id: str) -> None:
        """Vendor checks on a batch ``test_create`` just created (none by default)."""

    def check_running(self, info: BatchInfo) -> None:
        """Vendor checks on the ``info`` of a batch just created (none by default)."""

    def check_finished(self, info: BatchInfo) -> None:
        """Vendor checks on the ``info`` of the finished batch (none by default)."""

    def check_outcomes(self, results: Mapping[str, LMOutput]) -> None:
        """Vendor checks on ``test_retrieve_outcomes``' results (none by default)."""

    def check_invoked(self, results: Mapping[str, LMOutput]) -> None:
        """Vendor checks on ``test_invoke``'s results (none by default)."""

    # ----------------------------------------------------------------- tests

    async def test_create(
        self, cassette_target: CassetteTarget, create_variant: Mapping[str, Any]
    ) -> None:
        """A plain prompt and a chat with a system message, with request options."""
        options = {**self.create_provider_options, **create_variant}
        async with cassette_target.operations(**options) as ops:
            batch_id = await ops.create(
                {
                    "greeting": "Say hello",
                    "chat": [Message.system("Be brief."), Message.user("Hi")],
                },
                dict(self.create_options),
            )
            assert batch_id
            assert batch_id.startswith(self.batch_id_prefix)
            await self.check_created(ops, batch_id)

    async def test_status(self, cassette_target: CassetteTarget) -> None:
        """Running just after create, finished (one request succeeded) at the end."""
        async with cassette_target.operations(**self.status_provider_options) as ops:
            batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 20})
            info = await ops.info(batch_id)
            assert info["status"] is BatchStatus.IN_PROGRESS
            assert info["created_at"] is not None
            if self.running_provider_statuses:
                assert info["provider_status"] in self.running_provider_statuses
            self.check_running(info)
            await cassette_target.wait(ops, batch_id)
            info = await ops.info(batch_id)
            assert info["status"] is BatchStatus.FINISHED
            assert info["ended_at"] is not None
            if self.finished_provider_status is not None:
                assert info["provider_status"] == self.finished_provider_status
            if self.counts_succeeded:
                assert info["request_counts"]["succeeded"] == 1
            self.check_finished(info)

    async def test_retrieve_outcomes(self, cassette_target: CassetteTarget) -> None:
        """An answer, a per-line error and a request the expired batch never ran."""
        cassette_target.skip_live()
        requests = dict(self.outcome_requests)
        async with cassette_target.operations() as ops:
            batch_id = await ops.create(requests, {"max_tokens": 20})
            await cassette_target.wait(ops, batch_id)
            if self.expired_provider_status is None:
                assert await ops.status(batch_id) is BatchStatus.EXPIRED
            else:
                info = await ops.info(batch_id)
                assert (info["status"], info["provider_status"]) == (
                    BatchStatus.EXPIRED,
                    self.expired_provider_status,
                )
            results = await ops.retrieve(batch_id)
        assert set(results) == set(requests)
        for key, text in self.expected_texts.items():
            assert results[key].text == text, key
        for key, expected in self.expected_errors.items():
            error = results[key].error
            assert error is not None, key
            assert {name: getattr(error, name) for name in expected} == dict(expected), key
        self.check_outcomes(results)

    async def test_cancel(self, cassette_target: CassetteTarget) -> None:
        """A batch cancelled at once ends cancelled; nothing it holds is lost."""
        requests = {f"c{i}": f"Count to {i}" for i in range(4)}
        async with cassette_target.operations() as ops:
            batch_id = await ops.create(requests, {"max_tokens": 20})
            await ops.cancel(batch_id)
            if self.statuses_after_cancel:
                assert await ops.status(batch_id) in self.statuses_after_cancel
            await cassette_target.wait(ops, batch_id)
            assert await ops.status(batch_id) is BatchStatus.CANCELLED
            results = await ops.retrieve(batch_id)
        assert set(results) == set(requests)
        kinds = {"ok" if out.ok else out.error.kind for out in results.values()}
        if self.cancels_every_request:
            assert kinds == {"cancelled"}
        else:
            assert "cancelled" in kinds
            assert kinds <= {"ok", "cancelled"}

    async def test_cancel_is_unsupported(self, cassette_target: CassetteTarget) -> None:
        """No cancel: refused with no HTTP call (the cassette holds the create only, and
        replay fails on any call it does not hold)."""
        async with cassette_target.operations() as ops:
            batch_id = await ops.create({"a": "Say hello"}, {"max_tokens": 20})
            calls = len(cassette_target.emulator.calls) if cassette_target.emulator else 0
            assert "cancel" not in ops.supported_methods
            with pytest.raises(OperationUnsupportedError):
                await ops.cancel(batch_id)
            if cassette_target.emulator is not None:
                assert len(cassette_target.emulator.calls) == calls

    async def _list_created(self, cassette_target: CassetteTarget, **options: Any) -> None:
        async with cassette_target.operations(**options) as ops:
            created = [
                await ops.create({"a": f"List me {i}"}, {"max_tokens": 16}) for i in range(3)
            ]
            listed = [info["id"] for info in await ops.list()]
        assert set(created) <= set(listed)
        if not cassette_target.live:
            assert listed == created[::-1]  # newest first

    async def test_list_in_one_page(self, cassette_target: CassetteTarget) -> None:
        """One list call, every batch, newest first."""
        await self._list_created(cassette_target)

    async def test_list_across_pages(
        self, cassette_target: CassetteTarget, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Three batches listed in pages of :attr:`list_page_size`, newest first."""
        provider = self.vendor.provider
        if "list_page_size" in provider.settings_class.model_fields:
            await self._list_created(cassette_target, list_page_size=self.list_page_size)
        else:
            monkeypatch.setattr(provider, "list_page_size", self.list_page_size)
            await self._list_created(cassette_target)

    async def test_invoke(
        self, cassette_target: CassetteTarget, invoke_variant: Mapping[str, Any]
    ) -> None:
        """Submit, wait and collect in one call: every request answered."""
        async with cassette_target.operations(**invoke_variant) as ops:
            results = await ops.invoke(
                {"q1": "Hello", "q2": [Message.system("Answer in one word."), Message.user("Hi")]},
                {"max_tokens": 32},
                status_check_interval=cassette_target.poll_interval,
                max_iterations=500,
            )
        assert set(results) == {"q1", "q2"}
        assert all(output.ok and output.text for output in results.values())
        self.check_invoked(results)
