"""The morning summary: what the runs of a night (or since a time) did, as numbers.

:func:`build_summary` reads an artifacts folder (see docs/artifacts.md), through the
tolerant readers of :mod:`pantheon_engine.night.summary_read`, and returns a
:class:`~pantheon_engine.night.summary_model.Summary`; the renderers
(:mod:`pantheon_engine.night.report`) draw it and write it as ``summary.json``. See
docs/report.md.

Every pass rate here comes from acceptance checks (``run.json`` ``check``), never from
an agent's own final answer; reviewers are judged by their canaries
(``nights/<night_id>/reviewers.json``); merges the gate refused are kept apart from
failures of the work.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from pantheon_engine.atomic import read_dict
from pantheon_engine.evals.curve import read_curves
from pantheon_engine.evals.stats import wilson_interval
from pantheon_engine.kappa import cohen_kappa
from pantheon_engine.night.queue_base import JobQueueBase
from pantheon_engine.night.summary_jobs import queue_jobs
from pantheon_engine.night.summary_model import (
    GATE_KINDS,
    AgentKappa,
    FlowKappa,
    KappaSummary,
    PassRate,
    PullRequest,
    RedBin,
    RedFailure,
    Refusal,
    RefusalGroup,
    RunRow,
    Summary,
    Totals,
)
from pantheon_engine.night.summary_read import (
    RAN,
    agent_of,
    check_of,
    considered_runs,
    first_line,
    input_title,
    is_refusal,
    night_stats,
    node_statuses,
    pull_request,
    read_reviewers,
    reason_of,
    review_pair,
    text_or_none,
)
from pantheon_engine.run.search import SearchTally

__all__ = ["build_summary"]


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
    artifacts: Path | str, *, night_id: str | None = None, since: datetime | None = None,
    queue: JobQueueBase | None = None,
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
    searched = SearchTally()
    pairs: list[tuple[str, str, str, str, str]] = []  # (flow, agent_a, agent_b, a, b)
    job_ids: list[int] = []

    for run_dir, meta in considered_runs(root, night_id, since):
        run_id = text_or_none(meta.get("run_id")) or run_dir.name
        flow = text_or_none(meta.get("flow")) or "unknown"
        title = input_title(meta.get("input"))
        status = text_or_none(meta.get("status")) or "running"
        finished = status in RAN
        totals.runs += 1
        if isinstance(meta.get("job_id"), int):
            job_ids.append(meta["job_id"])
        if status == "ok":
            totals.ok += 1
        elif status == "failed":
            totals.failed += 1
        else:
            totals.running += 1
        check = check_of(meta)
        check_nodes = check[0] if check else []
        search = meta.get("search")
        if finished and isinstance(search, dict):
            searched.add(search)
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
                title=title,
                started_at=text_or_none(meta.get("started_at")),
                finished_at=text_or_none(meta.get("finished_at")),
                failed_node=text_or_none(meta.get("failed_node")),
                error_kind=text_or_none(meta.get("error_kind")),
                check_passed=check[2] if check else None,
            )
        )

        for node, node_status in node_statuses(run_dir, meta).items():
            if node_status != "failed":
                continue
            agent = agent_of(meta, run_dir, node)
            error = read_dict(run_dir / node / "error.json") or {}
            metrics = read_dict(run_dir / node / "metrics.json") or {}
            kind = (
                text_or_none(error.get("error_kind"))
                or text_or_none(metrics.get("error_kind"))
                or (
                    text_or_none(meta.get("error_kind"))
                    if meta.get("failed_node") == node
                    else None
                )
                or "unknown"
            )
            rel = f"runs/{run_dir.name}/{node}/error.json"
            if not (root / rel).is_file():
                rel = f"runs/{run_dir.name}/run.json"
            reason = reason_of(run_dir, meta, node)
            if is_refusal(kind, node, agent, check_nodes):
                refused.setdefault(kind, []).append(
                    Refusal(
                        run_id=run_id,
                        flow=flow,
                        title=title,
                        node=node,
                        agent=agent,
                        error_kind=kind,
                        reason=reason,
                        path=rel,
                    )
                )
                continue
            red = bins.setdefault(
                (agent, node, kind), RedBin(agent=agent, node=node, error_kind=kind, count=0)
            )
            red.count += 1
            red.paths.append(rel)
            red.failures.append(
                RedFailure(run_id=run_id, title=title, error=first_line(reason), path=rel)
            )

        if status == "ok":
            pr = pull_request(run_dir, meta, run_id, flow)
            if pr is not None:
                prs.append(pr)
        pair = review_pair(run_dir, meta)
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
        jobs=queue_jobs(queue, job_ids, since if night_id is None else None)
        if queue is not None else None,
        runs=rows,
        prs=prs,
        red_bins=sorted(bins.values(), key=lambda b: (-b.count, b.agent, b.node, b.error_kind)),
        pass_rates=grades.rates(),
        kappa=kappa,
        reviewers=read_reviewers(root, night_id, [p[1:] for p in pairs]),
        refused=sorted(
            (
                RefusalGroup(error_kind=k, meaning=GATE_KINDS[k], count=len(r), refusals=r)
                for k, r in refused.items()
            ),
            key=lambda g: (-g.count, g.error_kind),
        ),
        night=night_stats(root, night_id) if night_id is not None else None,
        search=searched if searched.runs else None,
        curves=curves.curves,
        curve_problems=curves.problems,
    )
