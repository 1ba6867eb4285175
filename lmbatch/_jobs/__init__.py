"""The orchestration behind the user API, written once for every provider.

:class:`~lmbatch.BatchOperations` delegates each user method to an
:class:`~lmbatch._jobs._orchestrator.Orchestrator` (one per instance, made on first use),
which calls only the provider interface. One module per job:

==========================  ================================================================
``_orchestrator``           the per-instance handle: state, user-API entry points, the error
                            boundary around every provider call (``call``, ``fetch``)
``_targets``                what an id names: a vendor batch, a chunk of a job, a whole job
``_recording``              validate and plan requests, record the job (the one place jobs
                            are created, for every round), spool its input; ``create``
``_spool``                  checksummed spool files; rebuilt from the caller's requests
``_claims``                 who submits a chunk: owners and leases
``_submission``             crash-safe submission of a job's chunks (claims, create calls)
``_reconcile``              an interrupted create: find its batch, prove it the chunk's
``_batches``                info of a batch or job (aggregated), list, cancel
``_waiting``                polling until a batch ends: backoff, timeout, overdue batches
``_poll_policy``            :class:`PollPolicy` and the waiting arguments, read in one place
``_deadline``               the caller's timeout, held even while one HTTP call hangs
``_collect``                results: one outcome per key, priced, unanswered keys filled in
``_downloads``              a results download read in full, checked against the counts
``_resubmit_policy``        which outcomes are resubmitted (``should_resubmit``), ``retry_on``,
                            ``treat_as_error``, ``on_resubmit``
``_resubmission``           making a resubmission round from the spooled input
``_invocation``             ``invoke`` / ``invoke_iter``: one argument plumbing, the rounds
``_budget``                 ``estimate`` and the ``max_cost`` budget of a job
``_ledger``                 what each batch cost, recorded; the budget left for a round
``_options``                :class:`JobOptions`, the orchestration's settings
``_resume``                 ``lmbatch.wait``, ``lmbatch.resume``: a job from the store alone
``_resolution``             ``lmbatch.resolve``: settling an uncertain create by hand
==========================  ================================================================

Nothing here is imported by :mod:`lmbatch._operations` at module level but the defaults
its signatures show (``_poll_policy``, ``_resubmit_policy``), so the provider interface
stays light and the import graph has no cycle.
"""
