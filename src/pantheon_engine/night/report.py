"""The morning report: what the runs of a night (or since a time) did.

:func:`build_summary` reads an artifacts folder (see docs/artifacts.md) and returns a
:class:`Summary`; :func:`write_report` writes it as ``summary.json``, ``report.md`` and
one self-contained ``report.html`` (inline CSS and SVG charts, no network);
:func:`render_markdown` gives the Markdown for the terminal. See docs/report.md.

Every pass rate here comes from acceptance checks (``run.json`` ``check``), never from
an agent's own final answer; reviewers are judged by their canaries
(``nights/<night_id>/reviewers.json``); merges the gate refused are kept apart from
failures of the work.

Every reader here is tolerant: a missing, unreadable or oddly shaped file is skipped,
never fatal, so a report can be drawn while runs are still being written.
"""

from __future__ import annotations

import html
import math
import os
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from pantheon_engine.atomic import atomic_write_json, atomic_write_text, iter_jsonl, read_dict
from pantheon_engine.evals.curve import LearningCurve, read_curves
from pantheon_engine.evals.curve_report import curves_html, curves_markdown
from pantheon_engine.evals.stats import wilson_interval
from pantheon_engine.kappa import cohen_kappa
from pantheon_engine.night.tail import night_dirs

__all__ = [
    "GATE_KINDS",
    "AgentKappa",
    "FlowKappa",
    "GateKappa",
    "KappaSummary",
    "NightStats",
    "PassRate",
    "PullRequest",
    "RedBin",
    "Refusal",
    "RefusalGroup",
    "ReviewerGate",
    "ReviewerRow",
    "Reviewers",
    "RunRow",
    "SeriesPoint",
    "Summary",
    "Totals",
    "build_summary",
    "gate_kappa_text",
    "gate_text",
    "interval_text",
    "kappa_text",
    "pass_rate_text",
    "percent",
    "render_html",
    "render_markdown",
    "write_report",
]

RAN = ("ok", "failed")  # node statuses that count as "the node ran"
REVIEWERS_FILE = "reviewers.json"

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


# --------------------------------------------------------------------------- models


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
    started_at: str | None = None
    finished_at: str | None = None
    failed_node: str | None = None
    error_kind: str | None = None
    check_passed: bool | None = None  # the run's checks: None when none ran (or none exist)


class PullRequest(BaseModel):
    run_id: str
    flow: str
    branch: str | None = None
    commit: str | None = None
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0


class RedBin(BaseModel):
    """Failed nodes sharing one (agent, node, error_kind): failures of the work."""

    agent: str
    node: str
    error_kind: str
    count: int
    paths: list[str] = Field(default_factory=list)  # relative to the artifacts folder


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
    """Cohen's κ over the reviewers' verdict pairs in the runs; None: undefined."""

    pairs: int = 0
    agreement: float | None = None  # share of pairs with equal verdicts
    overall: float | None = None
    by_flow: list[FlowKappa] = Field(default_factory=list)
    by_agent: list[AgentKappa] = Field(default_factory=list)


class ReviewerRow(BaseModel):
    """One reviewer agent@version: its canary record (from ``reviewers.json``; None
    where the file has no such number) and κ over the review pairs it gave in the runs."""

    agent: str
    canaries: int | None = None
    correct: int | None = None
    accuracy: float | None = None
    bad_seen: int | None = None
    false_passes: int | None = None
    false_pass_rate: float | None = None
    window: int | None = None
    kappa: float | None = None
    kappa_pairs: int = 0


class GateKappa(BaseModel):
    """κ between the two reviewers as the night's gate saw it; ``value`` None: undefined."""

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


class Summary(BaseModel):
    artifacts: str
    generated_at: str
    night_id: str | None = None
    since: str | None = None
    totals: Totals = Field(default_factory=Totals)
    runs: list[RunRow] = Field(default_factory=list)
    prs: list[PullRequest] = Field(default_factory=list)
    red_bins: list[RedBin] = Field(default_factory=list)
    pass_rates: list[PassRate] = Field(default_factory=list)
    kappa: KappaSummary = Field(default_factory=KappaSummary)
    reviewers: Reviewers = Field(default_factory=Reviewers)
    refused: list[RefusalGroup] = Field(default_factory=list)
    night: NightStats | None = None
    #: every agent's learning curves (``agents/<agent>/curves/*.json``; not per night)
    curves: list[LearningCurve] = Field(default_factory=list)
    curve_problems: list[str] = Field(default_factory=list)  # curve files not readable


# --------------------------------------------------------------------------- readers


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _node_dirs(run_dir: Path) -> list[Path]:
    try:
        return sorted((p for p in run_dir.iterdir() if p.is_dir()), key=lambda p: p.name)
    except OSError:
        return []


def _considered_runs(
    root: Path, night_id: str | None, since: datetime | None
) -> list[tuple[Path, dict[str, Any]]]:
    runs_dir = root / "runs"
    if not runs_dir.is_dir():
        return []
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    found: list[tuple[Path, dict[str, Any]]] = []
    for run_dir in sorted(runs_dir.iterdir(), key=lambda p: p.name):
        meta = read_dict(run_dir / "run.json") if run_dir.is_dir() else None
        if meta is None:
            continue
        if night_id is not None and meta.get("night_id") != night_id:
            continue
        if since is not None:
            started = _parse_time(meta.get("started_at"))
            if started is None or started < since:
                continue
        found.append((run_dir, meta))
    found.sort(key=lambda item: (str(item[1].get("started_at") or ""), item[0].name))
    return found


def _node_statuses(run_dir: Path, meta: dict[str, Any]) -> dict[str, str]:
    """Node -> status: ``run.json`` nodes win; a running run falls back to metrics.json."""
    statuses: dict[str, str] = {}
    for node_dir in _node_dirs(run_dir):
        metrics = read_dict(node_dir / "metrics.json")
        if metrics and _str(metrics.get("status")):
            statuses[node_dir.name] = metrics["status"]
        elif (node_dir / "error.json").is_file():
            statuses[node_dir.name] = "failed"
    nodes = meta.get("nodes")
    if isinstance(nodes, dict):
        statuses.update({k: v for k, v in nodes.items() if isinstance(v, str)})
    return dict(sorted(statuses.items()))


def _agent_of(meta: dict[str, Any], run_dir: Path, node: str) -> str:
    agents = meta.get("agents")
    if isinstance(agents, dict) and _str(agents.get(node)):
        return agents[node]
    for name in ("error.json", "metrics.json"):
        data = read_dict(run_dir / node / name)
        if data and _str(data.get("agent")):
            return data["agent"]
    return "unknown"


def _pull_request(
    run_dir: Path, meta: dict[str, Any], run_id: str, flow: str
) -> PullRequest | None:
    merge: dict[str, Any] | None = None
    added = removed = changed = 0
    for node_dir in _node_dirs(run_dir):
        out = read_dict(node_dir / "output.json")
        if not out:
            continue
        if merge is None and _str(out.get("branch")) and "commit" in out:
            merge = out
        if "lines_added" in out or "lines_removed" in out:
            added += _int(out.get("lines_added"))
            removed += _int(out.get("lines_removed"))
            changed += _int(out.get("files_changed"))
    if merge is not None and merge.get("merged") is False:
        return None
    branch = _str((merge or {}).get("branch")) or _str(meta.get("branch"))
    if branch is None:
        return None
    if merge is not None and "files_changed" in merge:
        changed = _int(merge.get("files_changed"))
    return PullRequest(
        run_id=run_id,
        flow=flow,
        branch=branch,
        commit=_str((merge or {}).get("commit")),
        files_changed=changed,
        lines_added=added,
        lines_removed=removed,
    )


def _review_pair(run_dir: Path, meta: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """The two reviewers' agents and verdicts from the first two review.json of a run."""
    verdicts: list[str] = []
    agents: list[str] = []
    for node_dir in _node_dirs(run_dir):
        review = read_dict(node_dir / "review.json")
        if review and _str(review.get("verdict")):
            verdicts.append(review["verdict"])
            agents.append(_agent_of(meta, run_dir, node_dir.name))
        if len(verdicts) == 2:
            return agents[0], agents[1], verdicts[0], verdicts[1]
    return None


def _check_of(meta: dict[str, Any]) -> tuple[list[str], list[str], bool | None] | None:
    """``run.json`` ``check`` as (check nodes, graded agents, passed); None when the run
    has none (an old run, a flow without a check node) or it is not the expected shape."""
    check = meta.get("check")
    if not isinstance(check, dict):
        return None
    passed = check.get("passed")
    if passed is not None and not isinstance(passed, bool):
        return None
    nodes = check.get("nodes")
    graded = check.get("graded")
    return (
        [n for n in nodes if isinstance(n, str)] if isinstance(nodes, list) else [],
        list(dict.fromkeys(g for g in graded if _str(g))) if isinstance(graded, list) else [],
        passed,
    )


def _agent_name(ref: str) -> str:
    return ref.split("@", 1)[0]


def _is_refusal(kind: str, node: str, agent: str, check_nodes: list[str]) -> bool:
    """A failure that is the merge gate saying no, not the work failing (see GATE_KINDS)."""
    return (
        kind in GATE_KINDS
        and node not in check_nodes
        and not _agent_name(agent).startswith("check.")
    )


def _reason(run_dir: Path, meta: dict[str, Any], node: str) -> str | None:
    """The error text of a failed node: run.json ``error``, else its error.json, else the
    run's FAILED.json."""
    if meta.get("failed_node") == node and _str(meta.get("error")):
        return meta["error"]
    for path in (run_dir / node / "error.json", run_dir / "FAILED.json"):
        data = read_dict(path) or {}
        if path.name == "FAILED.json" and data.get("node") != node:
            continue
        text = _str(data.get("error")) or _str(data.get("message"))
        if text:
            return text
    return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _reviewers_file(root: Path, night_id: str | None) -> tuple[Path, dict[str, Any]] | None:
    """The night's reviewers.json, or without a night the newest night that has one."""
    if night_id is not None:
        candidates = [root / "nights" / night_id]
    else:
        candidates = list(reversed(night_dirs(root)))
    for folder in candidates:
        data = read_dict(folder / REVIEWERS_FILE)
        if data is not None:
            return folder, data
    return None


def _reviewers(
    root: Path, night_id: str | None, pairs: list[tuple[str, str, str, str]]
) -> Reviewers:
    """Canary records from reviewers.json, joined with κ per reviewer from the runs."""
    rows: dict[str, ReviewerRow] = {}
    found = _reviewers_file(root, night_id)
    report = Reviewers()
    if found is not None:
        folder, data = found
        report.source = f"nights/{folder.name}/{REVIEWERS_FILE}"
        report.night_id = folder.name
        entries = data.get("reviewers")
        for agent, entry in entries.items() if isinstance(entries, dict) else []:
            if not _str(agent) or not isinstance(entry, dict):
                continue
            rows[agent] = ReviewerRow(
                agent=agent,
                canaries=_count(entry.get("canaries")),
                correct=_count(entry.get("correct")),
                accuracy=_num(entry.get("accuracy")),
                bad_seen=_count(entry.get("bad_seen")),
                false_passes=_count(entry.get("false_passes")),
                false_pass_rate=_num(entry.get("false_pass_rate")),
                window=_count(entry.get("window")),
            )
        kappa = data.get("kappa")
        if isinstance(kappa, dict):
            value = _num(kappa.get("value"))
            undefined = kappa.get("undefined")
            report.kappa = GateKappa(
                value=value,
                pairs=_int(kappa.get("pairs")),
                undefined=undefined if isinstance(undefined, bool) else value is None,
            )
        gate = data.get("gate")
        if isinstance(gate, dict):
            report.gate = ReviewerGate(
                false_pass_max=_num(gate.get("false_pass_max")),
                kappa_min=_num(gate.get("kappa_min")),
                min_canaries=_count(gate.get("min_canaries")),
            )
    by_reviewer: dict[str, list[tuple[str, str]]] = {}
    for agent_a, agent_b, a, b in pairs:
        for agent in dict.fromkeys((agent_a, agent_b)):
            by_reviewer.setdefault(agent, []).append((a, b))
    for agent, agent_pairs in by_reviewer.items():
        row = rows.setdefault(agent, ReviewerRow(agent=agent))
        row.kappa, row.kappa_pairs = cohen_kappa(agent_pairs), len(agent_pairs)
    report.rows = [rows[a] for a in sorted(rows)]
    return report


def _night_stats(root: Path, night_id: str) -> NightStats:
    batch: list[float] = []
    tps: list[float] = []
    p_wait: list[float] = []
    mean_wait: list[float] = []
    queue: list[float] = []
    last_rho: float | None = None
    series: list[SeriesPoint] = []
    records = 0
    for record in iter_jsonl(root / "nights" / night_id / "metrics.jsonl"):
        records += 1
        for field, bucket in (
            ("batch_size", batch),
            ("tokens_per_s", tps),
            ("p_wait", p_wait),
            ("queue_depth", queue),
        ):
            value = _num(record.get(field))
            if value is not None:
                bucket.append(value)
        wait = _num(record.get("mean_wait"))
        if wait is None:  # the night runner's name for the Erlang C mean wait
            wait = _num(record.get("erlang_mean_wait_s"))
        if wait is not None:
            mean_wait.append(wait)
        rho = _num(record.get("rho"))
        if rho is not None:
            last_rho = rho
        t = _num(record.get("t"))
        if t is not None:
            series.append(
                SeriesPoint(
                    t=t,
                    tokens_per_s=_num(record.get("tokens_per_s")),
                    queue_depth=_num(record.get("queue_depth")),
                )
            )
    series.sort(key=lambda p: p.t)
    return NightStats(
        night_id=night_id,
        records=records,
        avg_batch_size=_mean(batch),
        avg_tokens_per_s=_mean(tps),
        max_queue_depth=max(queue) if queue else None,
        last_rho=last_rho,
        mean_p_wait=_mean(p_wait),
        mean_wait=_mean(mean_wait),
        series=series,
    )


# --------------------------------------------------------------------------- summary


class _Grades:
    """Per agent@version: runs graded by checks, passed, not graded."""

    def __init__(self) -> None:
        self.graded: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self.not_graded: Counter[str] = Counter()

    def add(self, agents: list[str], passed: bool | None) -> None:
        for agent in agents:
            if passed is None:
                self.not_graded[agent] += 1
            else:
                self.graded[agent] += 1
                self.passed[agent] += int(passed)

    def rates(self) -> list[PassRate]:
        rates = []
        for agent in sorted(set(self.graded) | set(self.not_graded)):
            graded, passed = self.graded[agent], self.passed[agent]
            low, high = wilson_interval(passed, graded) if graded else (None, None)
            rates.append(
                PassRate(
                    agent=agent,
                    graded=graded,
                    passed=passed,
                    not_graded=self.not_graded[agent],
                    rate=passed / graded if graded else None,
                    low=low,
                    high=high,
                )
            )
        return rates


def build_summary(
    artifacts: Path | str, *, night_id: str | None = None, since: datetime | None = None
) -> Summary:
    """Summarise the runs under ``artifacts/runs`` (and the night's metrics, if named).

    A run counts when it has a readable ``run.json``, its ``started_at`` is at or after
    ``since`` (a naive ``since`` is taken as UTC) and, with ``night_id``, its
    ``run.json`` names that night. Reviewers' canary records come from that night's
    ``reviewers.json`` (without ``night_id``: the newest night that has one). Learning
    curves are the agents' (``agents/<agent>/curves/``), whatever the night or time.
    """
    root = Path(artifacts)
    totals = Totals()
    rows: list[RunRow] = []
    prs: list[PullRequest] = []
    bins: dict[tuple[str, str, str], RedBin] = {}
    refused: dict[str, list[Refusal]] = {}
    grades = _Grades()
    pairs: list[tuple[str, str, str, str, str]] = []  # (flow, agent_a, agent_b, a, b)

    for run_dir, meta in _considered_runs(root, night_id, since):
        run_id = _str(meta.get("run_id")) or run_dir.name
        flow = _str(meta.get("flow")) or "unknown"
        status = _str(meta.get("status")) or "running"
        finished = status in RAN
        totals.runs += 1
        if status == "ok":
            totals.ok += 1
        elif status == "failed":
            totals.failed += 1
        else:
            totals.running += 1
        check = _check_of(meta)
        check_nodes = check[0] if check else []
        if check is not None and finished:
            grades.add(check[1], check[2])
            if check[2] is None:
                totals.not_graded += 1
            elif check[2]:
                totals.checks_passed += 1
            else:
                totals.checks_failed += 1
        rows.append(
            RunRow(
                run_id=run_id,
                flow=flow,
                status=status,
                started_at=_str(meta.get("started_at")),
                finished_at=_str(meta.get("finished_at")),
                failed_node=_str(meta.get("failed_node")),
                error_kind=_str(meta.get("error_kind")),
                check_passed=check[2] if check else None,
            )
        )

        for node, node_status in _node_statuses(run_dir, meta).items():
            if node_status != "failed":
                continue
            agent = _agent_of(meta, run_dir, node)
            error = read_dict(run_dir / node / "error.json") or {}
            metrics = read_dict(run_dir / node / "metrics.json") or {}
            kind = (
                _str(error.get("error_kind"))
                or _str(metrics.get("error_kind"))
                or (_str(meta.get("error_kind")) if meta.get("failed_node") == node else None)
                or "unknown"
            )
            rel = f"runs/{run_dir.name}/{node}/error.json"
            if not (root / rel).is_file():
                rel = f"runs/{run_dir.name}/run.json"
            if _is_refusal(kind, node, agent, check_nodes):
                refused.setdefault(kind, []).append(
                    Refusal(
                        run_id=run_id,
                        flow=flow,
                        node=node,
                        agent=agent,
                        error_kind=kind,
                        reason=_reason(run_dir, meta, node),
                        path=rel,
                    )
                )
                continue
            red = bins.setdefault(
                (agent, node, kind), RedBin(agent=agent, node=node, error_kind=kind, count=0)
            )
            red.count += 1
            red.paths.append(rel)

        if status == "ok":
            pr = _pull_request(run_dir, meta, run_id, flow)
            if pr is not None:
                prs.append(pr)
        pair = _review_pair(run_dir, meta)
        if pair is not None:
            pairs.append((flow, *pair))

    totals.refused = sum(len(r) for r in refused.values())
    by_flow: dict[str, list[tuple[str, str]]] = {}
    by_agent: dict[str, list[tuple[str, str]]] = {}
    for flow, agent_a, agent_b, a, b in pairs:
        by_flow.setdefault(flow, []).append((a, b))
        both = agent_a if agent_a == agent_b else f"{agent_a} + {agent_b}"
        by_agent.setdefault(both, []).append((a, b))
    curves = read_curves(root)
    kappa = KappaSummary(
        pairs=len(pairs),
        agreement=(sum(p[3] == p[4] for p in pairs) / len(pairs)) if pairs else None,
        overall=cohen_kappa((p[3], p[4]) for p in pairs),
        by_flow=[
            FlowKappa(flow=f, pairs=len(p), kappa=cohen_kappa(p))
            for f, p in sorted(by_flow.items())
        ],
        by_agent=[
            AgentKappa(agent=a, pairs=len(p), kappa=cohen_kappa(p))
            for a, p in sorted(by_agent.items())
        ],
    )
    return Summary(
        artifacts=str(root),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        night_id=night_id,
        since=since.isoformat() if since is not None else None,
        totals=totals,
        runs=rows,
        prs=prs,
        red_bins=sorted(bins.values(), key=lambda b: (-b.count, b.agent, b.node, b.error_kind)),
        pass_rates=grades.rates(),
        kappa=kappa,
        reviewers=_reviewers(root, night_id, [p[1:] for p in pairs]),
        refused=sorted(
            (
                RefusalGroup(error_kind=k, meaning=GATE_KINDS[k], count=len(r), refusals=r)
                for k, r in refused.items()
            ),
            key=lambda g: (-g.count, g.error_kind),
        ),
        night=_night_stats(root, night_id) if night_id is not None else None,
        curves=curves.curves,
        curve_problems=curves.problems,
    )


# --------------------------------------------------------------------------- formatting


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    """``0.25`` as ``25 %``; ``n/a`` for None."""
    return "n/a" if value is None else f"{value * 100:.0f} %"


def kappa_text(value: float | None, digits: int = 2) -> str:
    """κ for people: ``undefined`` when there is none (no pairs, or no variation in the
    verdicts, where chance agreement is 1 and κ is 0/0), never a made-up 1.0."""
    return "undefined" if value is None else f"{value:.{digits}f}"


def interval_text(rate: PassRate) -> str:
    """``[9 %, 53 %]``: the Wilson 95 % interval of a pass rate (``n/a`` when none)."""
    if rate.low is None or rate.high is None:
        return "n/a"
    return f"[{percent(rate.low)}, {percent(rate.high)}]"


def pass_rate_text(rate: PassRate) -> str:
    """``3/12 passed checks  25 % [9 %, 53 %]`` (and how many runs were not graded)."""
    if rate.graded:
        text = (
            f"{rate.passed}/{rate.graded} passed checks  {percent(rate.rate)} {interval_text(rate)}"
        )
    else:
        text = "no run graded"
    if rate.not_graded:
        text += f"  ({rate.not_graded} not graded)"
    return text


def gate_text(reviewers: Reviewers) -> str | None:
    """The night's reviewer gate in words, or None when the file names none."""
    gate = reviewers.gate
    if gate is None:
        return None
    parts = []
    if gate.false_pass_max is not None:
        parts.append(f"false-pass rate ≤ {percent(gate.false_pass_max)}")
    if gate.kappa_min is not None:
        parts.append(f"κ ≥ {gate.kappa_min:g}")
    if gate.min_canaries is not None:
        parts.append(f"at least {gate.min_canaries} canaries")
    return ", ".join(parts) or None


def gate_kappa_text(kappa: GateKappa) -> str:
    value = "undefined" if kappa.undefined or kappa.value is None else f"{kappa.value:.2f}"
    return f"κ {value} over {kappa.pairs} pairs"


def _headline(summary: Summary) -> str:
    t = summary.totals
    text = f"{t.runs} runs: {t.ok} ok, {t.failed} failed, {t.running} running; "
    if t.checks_passed or t.checks_failed or t.not_graded:
        text += (
            f"checks {t.checks_passed} passed, {t.checks_failed} failed, "
            f"{t.not_graded} not graded; "
        )
    if t.refused:
        text += f"{t.refused} refused by the merge gate; "
    return text + f"{len(summary.prs)} merged"


def _scope(summary: Summary) -> str:
    parts = []
    if summary.night_id:
        parts.append(f"night {summary.night_id}")
    if summary.since:
        parts.append(f"since {summary.since}")
    return ", ".join(parts) or "all runs"


def _night_rows(night: NightStats) -> list[tuple[str, str]]:
    return [
        ("metric records", str(night.records)),
        ("average batch size", _fmt(night.avg_batch_size)),
        ("average tokens/s", _fmt(night.avg_tokens_per_s, 1)),
        ("max queue depth", _fmt(night.max_queue_depth, 0)),
        ("last ρ", _fmt(night.last_rho, 3)),
        ("mean p_wait", _fmt(night.mean_p_wait, 3)),
        ("mean wait (s)", _fmt(night.mean_wait, 2)),
    ]


def _md_cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _link_target(summary: Summary, rel: str, links_from: Path | None) -> str:
    if links_from is None:
        return rel
    target = Path(summary.artifacts) / rel
    return Path(os.path.relpath(target.resolve(), links_from.resolve())).as_posix()


def _md_target(target: str) -> str:
    return f"<{target}>" if any(c in target for c in " ()<>") else target


def _reviewer_cells(row: ReviewerRow) -> list[str]:
    def n(value: int | None) -> str:
        return "n/a" if value is None else str(value)

    return [
        row.agent,
        n(row.canaries),
        n(row.correct),
        percent(row.accuracy),
        n(row.bad_seen),
        n(row.false_passes),
        percent(row.false_pass_rate),
        n(row.window),
        kappa_text(row.kappa, 3) if row.kappa_pairs else "-",
        str(row.kappa_pairs),
    ]


REVIEWER_HEADER = [
    "reviewer",
    "canaries",
    "correct",
    "accuracy",
    "bad seen",
    "false passes",
    "false-pass rate",
    "window",
    "κ (runs)",
    "pairs",
]


def _reviewer_notes(reviewers: Reviewers) -> list[str]:
    """What the reviewers section says before its table."""
    if reviewers.source is None:
        notes = ["No reviewers.json: the reviewers' canaries were not measured."]
    else:
        notes = [f"From {reviewers.source}."]
        gate = gate_text(reviewers)
        if gate:
            notes.append(f"Gate: {gate}.")
        if reviewers.kappa is not None:
            notes.append(
                f"Between the two reviewers (gate window): {gate_kappa_text(reviewers.kappa)}."
            )
    return notes


def _md_reviewers(reviewers: Reviewers) -> list[str]:
    out = [" ".join(_reviewer_notes(reviewers))]
    if reviewers.rows:
        out.append("")
        out += _md_table(REVIEWER_HEADER, [_reviewer_cells(r) for r in reviewers.rows])
    return out


def render_markdown(summary: Summary, *, links_from: Path | str | None = None) -> str:
    """The report as Markdown.

    Artifact links are relative to the artifacts folder, or to ``links_from`` (the
    folder the Markdown file will live in) when given.
    """
    base = Path(links_from) if links_from is not None else None
    out = [f"# Morning report ({_scope(summary)})", "", f"**{_headline(summary)}**", ""]
    t = summary.totals
    out += _md_table(
        ["runs", "ok", "failed", "running", "merged", "κ"],
        [
            [
                t.runs,
                t.ok,
                t.failed,
                t.running,
                len(summary.prs),
                kappa_text(summary.kappa.overall, 3),
            ]
        ],
    )

    out += ["", "## Pass rate per agent (from checks)", ""]
    if summary.pass_rates:
        out.append(
            "A run counts for the agents its checks graded; *not graded*: the work "
            "failed before a check ran. Interval: Wilson 95 %."
        )
        out.append("")
        out += _md_table(
            ["agent", "graded", "passed", "pass rate", "95 % interval", "not graded"],
            [
                [r.agent, r.graded, r.passed, percent(r.rate), interval_text(r), r.not_graded]
                for r in summary.pass_rates
            ],
        )
    else:
        out.append("No run was graded by a check.")
    out += curves_markdown(summary.curves, summary.curve_problems)

    out += ["", "## Merged", ""]
    if summary.prs:
        out += _md_table(
            ["run", "flow", "branch", "files", "+", "-"],
            [
                [p.run_id, p.flow, p.branch or "", p.files_changed, p.lines_added, p.lines_removed]
                for p in summary.prs
            ],
        )
    else:
        out.append("Nothing merged.")

    out += ["", "## Red bins (failures of the work)", ""]
    if summary.red_bins:
        out += _md_table(["agent", "node", "error kind", "count", "artifacts"], [])
        for red in summary.red_bins:  # the links are Markdown already: not escaped again
            links = ", ".join(
                f"[{_md_cell(p.split('/')[1])}]({_md_target(_link_target(summary, p, base))})"
                for p in red.paths
            )
            cells = " | ".join(
                _md_cell(c) for c in (red.agent, red.node, red.error_kind, red.count)
            )
            out.append(f"| {cells} | {links} |")
    else:
        out.append("No failures.")

    out += ["", "## Refused by the merge gate", ""]
    if summary.refused:
        out += _md_table(
            ["kind", "count", "what it means"],
            [[g.error_kind, g.count, g.meaning] for g in summary.refused],
        )
        out.append("")
        out += _md_table(["run", "flow", "kind", "reason", "artifact"], [])
        for group in summary.refused:
            for r in group.refusals:
                target = _md_target(_link_target(summary, r.path, base))
                link = f"[{_md_cell(r.path.rsplit('/', 1)[-1])}]({target})"
                cells = " | ".join(
                    _md_cell(c) for c in (r.run_id, r.flow, r.error_kind, r.reason or "")
                )
                out.append(f"| {cells} | {link} |")
    else:
        out.append("The gate refused nothing.")

    out += ["", "## Reviewers (canaries)", ""]
    out += _md_reviewers(summary.reviewers)

    k = summary.kappa
    out += ["", "## Reviewer agreement (Cohen's κ)", ""]
    if k.pairs:
        out.append(
            f"κ = {kappa_text(k.overall, 3)} over {k.pairs} verdict pairs "
            f"(raw agreement {percent(k.agreement)})."
        )
        out.append("")
        out += _md_table(
            ["flow", "pairs", "κ"], [[f.flow, f.pairs, kappa_text(f.kappa, 3)] for f in k.by_flow]
        )
        out.append("")
        out += _md_table(
            ["reviewer agent", "pairs", "κ"],
            [[a.agent, a.pairs, kappa_text(a.kappa, 3)] for a in k.by_agent],
        )
    else:
        out.append("No run had two reviews.")

    if summary.night is not None:
        out += ["", f"## Throughput and queue (night {summary.night.night_id})", ""]
        out += _md_table(["metric", "value"], _night_rows(summary.night))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f3f3}.num{text-align:right}
.headline{font-size:1.1rem;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
svg{background:#fafafa;border:1px solid #ddd}
svg text{font-size:11px;fill:#444}
.muted{color:#777}
"""


def _svg_chart(
    title: str,
    points: list[tuple[float, float]],
    color: str,
    *,
    t_range: tuple[float, float] | None = None,
    width: int = 520,
    height: int = 220,
) -> str:
    """A line chart of ``(t, value)`` points, sorted by ``t``, as inline SVG (no xmlns:
    HTML5 does not need it). ``t_range`` shares one time axis between charts."""
    esc = html.escape
    left, right, top, bottom = 48, 12, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(title)}"><title>{esc(title)}</title>',
        f'<text x="{left}" y="16">{esc(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
    ]
    if not points:
        parts.append(
            f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}" '
            'text-anchor="middle">no data</text></svg>'
        )
        return "".join(parts)
    t0, t1 = t_range or (points[0][0], points[-1][0])
    y_max = max(v for _, v in points)
    y_max = y_max if y_max > 0 else 1.0
    span = t1 - t0

    def xy(t: float, v: float) -> tuple[float, float]:
        x = left + (plot_w * (t - t0) / span if span > 0 else plot_w / 2)
        y = top + plot_h - plot_h * max(v, 0.0) / y_max
        return x, y

    coords = [xy(t, v) for t, v in points]
    if len(coords) == 1:
        x, y = coords[0]
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
    else:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{y_max:.4g}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>')

    def clock(t: float) -> str:
        try:
            return datetime.fromtimestamp(t, UTC).strftime("%H:%M")
        except (OverflowError, OSError, ValueError):
            return f"{t:.0f}"

    parts.append(f'<text x="{left}" y="{height - 8}">{esc(clock(t0))}</text>')
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{esc(clock(t1))} UTC</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(header: list[str], rows: Iterable[Iterable[str]]) -> str:
    """Rows of already-escaped cells (callers escape; see :func:`render_html`)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A table of plain values: every header and cell escaped here."""
    return _html_table(
        [html.escape(h) for h in header], [[html.escape(str(c)) for c in row] for row in rows]
    )


def render_html(summary: Summary, *, links_from: Path | str | None = None) -> str:
    """One self-contained HTML page: inline CSS, tables, two inline SVG charts."""
    e = html.escape
    base = Path(links_from) if links_from is not None else None
    t = summary.totals
    body = [
        f"<h1>Morning report ({e(_scope(summary))})</h1>",
        f'<p class="headline">{e(_headline(summary))}</p>',
        f'<p class="muted">generated {e(summary.generated_at)} from {e(summary.artifacts)}</p>',
        _html_table(
            [e(h) for h in ("runs", "ok", "failed", "running", "merged", "κ")],
            [
                [
                    e(str(x))
                    for x in (
                        t.runs,
                        t.ok,
                        t.failed,
                        t.running,
                        len(summary.prs),
                        kappa_text(summary.kappa.overall, 3),
                    )
                ]
            ],
        ),
    ]

    body.append("<h2>Pass rate per agent (from checks)</h2>")
    if summary.pass_rates:
        body.append(
            "<p>A run counts for the agents its checks graded; <em>not graded</em>: the work "
            "failed before a check ran. Interval: Wilson 95 %.</p>"
        )
        body.append(
            _text_table(
                ["agent", "graded", "passed", "pass rate", "95 % interval", "not graded"],
                [
                    [r.agent, r.graded, r.passed, percent(r.rate), interval_text(r), r.not_graded]
                    for r in summary.pass_rates
                ],
            )
        )
    else:
        body.append("<p>No run was graded by a check.</p>")
    if summary.curves or summary.curve_problems:
        body.append(curves_html(summary.curves, summary.curve_problems))

    body.append("<h2>Merged</h2>")
    if summary.prs:
        body.append(
            _text_table(
                ["run", "flow", "branch", "files", "+", "-"],
                [
                    [
                        p.run_id,
                        p.flow,
                        p.branch or "",
                        p.files_changed,
                        p.lines_added,
                        p.lines_removed,
                    ]
                    for p in summary.prs
                ],
            )
        )
    else:
        body.append("<p>Nothing merged.</p>")

    def link(rel: str, text: str) -> str:
        return f'<a href="{e(quote(_link_target(summary, rel, base)))}">{e(text)}</a>'

    body.append("<h2>Red bins (failures of the work)</h2>")
    if summary.red_bins:
        rows = []
        for red in summary.red_bins:
            links = ", ".join(link(p, p.split("/")[1]) for p in red.paths)
            rows.append([e(red.agent), e(red.node), e(red.error_kind), e(str(red.count)), links])
        body.append(
            _html_table([e(h) for h in ("agent", "node", "error kind", "count", "artifacts")], rows)
        )
    else:
        body.append("<p>No failures.</p>")

    body.append("<h2>Refused by the merge gate</h2>")
    if summary.refused:
        body.append(
            _text_table(
                ["kind", "count", "what it means"],
                [[g.error_kind, g.count, g.meaning] for g in summary.refused],
            )
        )
        rows = [
            [
                e(r.run_id),
                e(r.flow),
                e(r.error_kind),
                e(r.reason or ""),
                link(r.path, r.path.rsplit("/", 1)[-1]),
            ]
            for g in summary.refused
            for r in g.refusals
        ]
        body.append(
            _html_table([e(h) for h in ("run", "flow", "kind", "reason", "artifact")], rows)
        )
    else:
        body.append("<p>The gate refused nothing.</p>")

    body.append("<h2>Reviewers (canaries)</h2>")
    body.append(f"<p>{e(' '.join(_reviewer_notes(summary.reviewers)))}</p>")
    if summary.reviewers.rows:
        body.append(
            _text_table(REVIEWER_HEADER, [_reviewer_cells(r) for r in summary.reviewers.rows])
        )

    k = summary.kappa
    body.append("<h2>Reviewer agreement (Cohen's κ)</h2>")
    if k.pairs:
        body.append(
            f"<p>κ = {e(kappa_text(k.overall, 3))} over {k.pairs} verdict pairs "
            f"(raw agreement {e(percent(k.agreement))}).</p>"
        )
        body.append(
            _text_table(
                ["flow", "pairs", "κ"],
                [[f.flow, f.pairs, kappa_text(f.kappa, 3)] for f in k.by_flow],
            )
        )
        body.append(
            _text_table(
                ["reviewer agent", "pairs", "κ"],
                [[a.agent, a.pairs, kappa_text(a.kappa, 3)] for a in k.by_agent],
            )
        )
    else:
        body.append("<p>No run had two reviews.</p>")

    night = summary.night
    body.append("<h2>Throughput and queue</h2>")
    if night is not None:
        body.append(
            _html_table([e("metric"), e("value")], [[e(a), e(b)] for a, b in _night_rows(night)])
        )
        tps = [(p.t, p.tokens_per_s) for p in night.series if p.tokens_per_s is not None]
        queue = [(p.t, p.queue_depth) for p in night.series if p.queue_depth is not None]
    else:
        body.append('<p class="muted">No night named: no engine metrics.</p>')
        tps, queue = [], []
    ts = [p.t for p in night.series] if night is not None else []
    t_range = (min(ts), max(ts)) if ts else None
    body.append(
        '<div class="charts">'
        + _svg_chart("throughput (tokens/s)", tps, "#1f77b4", t_range=t_range)
        + _svg_chart("queue depth", queue, "#d62728", t_range=t_range)
        + "</div>"
    )

    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e('Pantheon morning report - ' + _scope(summary))}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(artifacts: Path | str, summary: Summary, out_dir: Path | str) -> list[Path]:
    """Write ``summary.json``, ``report.md`` and ``report.html`` into ``out_dir``, each
    atomically; artifact links are relative to ``out_dir``. Returns the three paths.

    ``artifacts`` is the folder the links point into (normally ``summary.artifacts``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    linked = summary.model_copy(update={"artifacts": str(Path(artifacts))})
    paths = [out / "summary.json", out / "report.md", out / "report.html"]
    atomic_write_json(paths[0], summary.model_dump(mode="json"))
    atomic_write_text(paths[1], render_markdown(linked, links_from=out))
    atomic_write_text(paths[2], render_html(linked, links_from=out))
    return paths
