"""The morning summary's shape: what ``summary.json`` holds and the report draws.

These pydantic models are the one description of the summary that the engine writes
(:func:`pantheon_engine.night.summary.build_summary`), the renderers draw
(:mod:`pantheon_engine.night.report`, :mod:`pantheon_engine.night.report_html`) and the
control room shows; they hold numbers only, nothing read from disk and nothing formatted,
so every reader of the summary sees the same thing. See docs/report.md.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from pantheon_engine.evals.curve import LearningCurve
from pantheon_engine.run.search import SearchTally

__all__ = [
    "DIFF_LINES",
    "GATE_KINDS",
    "AgentKappa",
    "FlowKappa",
    "GateKappa",
    "KappaSummary",
    "NightStats",
    "PassRate",
    "PullRequest",
    "QueueJobs",
    "RedBin",
    "RedFailure",
    "Refusal",
    "RefusalGroup",
    "ReviewerGate",
    "ReviewerRow",
    "Reviewers",
    "RunRow",
    "SeriesPoint",
    "Summary",
    "Totals",
]

#: Error kinds with which the merge gate refuses a change, and what each means. A
#: ``check_failed`` raised by a check node is a failure of the work (a red bin), not a
#: refusal; raised by the gate (a check reported failure yet the flow went on) it is one.
GATE_KINDS: dict[str, str] = {
    "reviewer_gate": "reviewers not trusted: their canary record is below the gate",
    "kappa_gate": "reviewers agree too little: κ below the gate",
    "check_missing": "no acceptance check ran before the gate",
    "check_failed": "an acceptance check did not pass",
    "review_rejected": "a reviewer rejected the change",
}


class Totals(BaseModel):
    runs: int = 0
    ok: int = 0
    failed: int = 0
    running: int = 0
    checks_passed: int = 0  # finished runs whose checks all passed
    checks_failed: int = 0  # finished runs with a failed check
    not_graded: int = 0  # finished runs with checks that never ran (the work failed first)
    refused: int = 0  # runs the merge gate refused (see ``Summary.refused``)


class RunRow(BaseModel):
    run_id: str
    flow: str
    status: str
    title: str | None = None  # what the run was about: its input's title, else its path
    started_at: str | None = None
    finished_at: str | None = None
    failed_node: str | None = None
    error_kind: str | None = None
    check_passed: bool | None = None  # the run's checks: None when none ran (or none exist)


class PullRequest(BaseModel):
    """A change the night merged: what it was about, where it is, and the change itself.

    ``diff`` is the change as a unified diff (at most :data:`DIFF_LINES` lines; the count
    left out is ``diff_omitted``), read from ``diff_source``: the ``diff.patch`` of the
    last node that wrote one (relative to the artifacts folder), or ``git diff
    BASE..COMMIT`` in the run's repository when no node left a patch.
    """

    run_id: str
    flow: str
    title: str | None = None  # the input's title, else its path (as the merge commit says)
    branch: str | None = None
    commit: str | None = None
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    diff: str | None = None
    diff_source: str | None = None
    diff_omitted: int = 0


#: lines of a merged change's diff the summary keeps (the rest stays in its file)
DIFF_LINES = 200


class RedFailure(BaseModel):
    """One failure of a red bin: the run, what it was about and its error in one line."""

    run_id: str
    title: str | None = None  # the input's title, else its path
    error: str | None = None  # the first line of the node's error
    path: str  # relative to the artifacts folder (error.json, else run.json)


class RedBin(BaseModel):
    """Failed nodes sharing one (agent, node, error_kind): failures of the work.

    ``failures`` has one entry per failed node, in the order of ``paths``."""

    agent: str
    node: str
    error_kind: str
    count: int
    paths: list[str] = Field(default_factory=list)  # relative to the artifacts folder
    failures: list[RedFailure] = Field(default_factory=list)


class PassRate(BaseModel):
    """How often the work of one agent@version passed its acceptance checks.

    One count per run whose ``run.json`` ``check.graded`` names the agent: ``graded``
    runs got a verdict from their checks, ``passed`` of them passed; ``not_graded`` runs
    failed before any check ran. ``rate`` is ``passed / graded`` with its Wilson 95 %
    interval ``[low, high]`` (all None when nothing was graded).
    """

    agent: str  # agent@version
    graded: int = 0
    passed: int = 0
    not_graded: int = 0
    rate: float | None = None
    low: float | None = None
    high: float | None = None


class FlowKappa(BaseModel):
    flow: str
    pairs: int
    kappa: float | None


class AgentKappa(BaseModel):
    agent: str  # the reviewers' agent@version ("a + b" when the two differ)
    pairs: int
    kappa: float | None


class KappaSummary(BaseModel):
    """Cohen's κ over the reviewers' verdict pairs in the runs; None: undefined.

    ``overall`` over ``pairs`` is the one κ every rendering shows (the report's header,
    its κ section, the control room's summary line and reviewers panel); ``by_flow`` and
    ``by_agent`` break it down."""

    pairs: int = 0
    agreement: float | None = None  # share of pairs with equal verdicts
    overall: float | None = None
    by_flow: list[FlowKappa] = Field(default_factory=list)
    by_agent: list[AgentKappa] = Field(default_factory=list)


class ReviewerRow(BaseModel):
    """One reviewer agent@version: its canary record (from ``reviewers.json``; None
    where the file has no such number) and how many of the runs' review pairs it gave."""

    agent: str
    canaries: int | None = None
    correct: int | None = None
    accuracy: float | None = None
    bad_seen: int | None = None
    false_passes: int | None = None
    false_pass_rate: float | None = None
    window: int | None = None
    pairs: int = 0  # review pairs of the runs it took part in


class GateKappa(BaseModel):
    """The ``kappa`` of ``reviewers.json``: the gate's rolling window (canary pairs
    included), kept as the file has it. The reports show :class:`KappaSummary` instead,
    so there is one κ to read; the gate's own figure is in its refusals' reasons."""

    value: float | None = None
    pairs: int = 0
    undefined: bool = True


class ReviewerGate(BaseModel):
    false_pass_max: float | None = None
    kappa_min: float | None = None
    min_canaries: int | None = None


class Reviewers(BaseModel):
    """The reviewers measured: ``source`` is the ``reviewers.json`` read (relative to the
    artifacts folder), None when there was none."""

    source: str | None = None
    night_id: str | None = None
    rows: list[ReviewerRow] = Field(default_factory=list)
    kappa: GateKappa | None = None
    gate: ReviewerGate | None = None


class Refusal(BaseModel):
    run_id: str
    flow: str
    title: str | None = None  # the input's title, else its path
    node: str
    agent: str
    error_kind: str
    reason: str | None = None  # the run's error text
    path: str  # relative to the artifacts folder


class RefusalGroup(BaseModel):
    """Merges the gate refused for one reason kind (see :data:`GATE_KINDS`)."""

    error_kind: str
    meaning: str
    count: int
    refusals: list[Refusal] = Field(default_factory=list)


class SeriesPoint(BaseModel):
    t: float
    tokens_per_s: float | None = None
    queue_depth: float | None = None


class EndpointRow(BaseModel):
    """One model server of the night (``endpoints`` of its metrics lines): its state and
    counters at the last sample that names it, its tokens/s averaged over the samples."""

    url: str
    models: list[str] = Field(default_factory=list)
    up: bool = True
    in_flight: int = 0
    requests: int = 0
    errors: int = 0
    downs: int = 0
    tokens_per_s: float | None = None
    avg_tokens_per_s: float | None = None
    samples: int = 0
    down_samples: int = 0
    last_error: str | None = None


class NightStats(BaseModel):
    night_id: str
    records: int = 0
    avg_batch_size: float | None = None
    avg_tokens_per_s: float | None = None
    max_queue_depth: float | None = None
    last_rho: float | None = None
    mean_p_wait: float | None = None
    mean_wait: float | None = None  # mean of the ``mean_wait`` field
    series: list[SeriesPoint] = Field(default_factory=list)
    #: the model servers of an engine with several (empty for one embedded model)
    endpoints: list[EndpointRow] = Field(default_factory=list)


class QueueJobs(BaseModel):
    """The report's jobs as the queue holds them: each job once, whatever number of runs
    or workers it took (a job a dead worker held and another finished counts once)."""

    queue: str  # where: a file, or a URL without its password
    jobs: int = 0
    states: dict[str, int] = Field(default_factory=dict)  # jobs per state
    #: host -> jobs whose claim (the last one) was made there; unclaimed jobs are left out
    workers: dict[str, int] = Field(default_factory=dict)
    claimed_again: int = 0  # jobs claimed more than once (a lease ran out, or a retry)
    not_in_queue: int = 0  # jobs the runs name that the queue no longer holds (cleared)


class Summary(BaseModel):
    artifacts: str
    generated_at: str
    night_id: str | None = None
    since: str | None = None
    totals: Totals = Field(default_factory=Totals)
    #: job counts from the queue (each job once, across workers); None: no queue was read
    jobs: QueueJobs | None = None
    runs: list[RunRow] = Field(default_factory=list)
    prs: list[PullRequest] = Field(default_factory=list)
    red_bins: list[RedBin] = Field(default_factory=list)
    pass_rates: list[PassRate] = Field(default_factory=list)
    kappa: KappaSummary = Field(default_factory=KappaSummary)
    reviewers: Reviewers = Field(default_factory=Reviewers)
    refused: list[RefusalGroup] = Field(default_factory=list)
    night: NightStats | None = None
    #: runs made with ``--search K`` (K > 1), summed; None when no run searched
    search: SearchTally | None = None
    #: every agent's learning curves (``agents/<agent>/curves/*.json``; not per night)
    curves: list[LearningCurve] = Field(default_factory=list)
    curve_problems: list[str] = Field(default_factory=list)  # curve files not readable
