"""The tolerant readers behind the morning summary: one artifacts folder, file by file.

Each function here reads one kind of file of the artifacts folder (see docs/artifacts.md):
a run's ``run.json`` and node folders, a night's ``reviewers.json`` and ``metrics.jsonl``.
They are apart from :func:`pantheon_engine.night.summary.build_summary`, which adds the
runs up, so that the rules for reading a file stay in one place and the adding up reads as
the report's definitions.

Every reader is tolerant: a missing, unreadable or oddly shaped file or field is skipped
(None, 0 or "unknown"), never fatal, so a report can be drawn while runs are still being
written.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.atomic import iter_jsonl, read_dict
from pantheon_engine.gitops import git
from pantheon_engine.night.summary_model import (
    DIFF_LINES,
    GATE_KINDS,
    EndpointRow,
    GateKappa,
    NightStats,
    PullRequest,
    ReviewerGate,
    ReviewerRow,
    Reviewers,
    SeriesPoint,
)
from pantheon_engine.night.tail import night_dirs

__all__ = [
    "ERROR_CHARS",
    "RAN",
    "REVIEWERS_FILE",
    "Change",
    "agent_of",
    "change_of",
    "check_of",
    "clip_lines",
    "considered_runs",
    "endpoint_rows",
    "first_line",
    "input_title",
    "is_refusal",
    "night_stats",
    "node_statuses",
    "pull_request",
    "read_reviewers",
    "reason_of",
    "review_pair",
    "text_or_none",
]

RAN = ("ok", "failed")  # node statuses that count as "the node ran"
REVIEWERS_FILE = "reviewers.json"
PATCH_FILE = "diff.patch"
#: an error's first line is cut after this many characters (the whole text stays in its file)
ERROR_CHARS = 240
_PATCH_BYTES = 2_000_000  # a diff.patch is read up to this size
_GIT_TIMEOUT_S = 10


def text_or_none(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None (a field of the wrong shape)."""
    return value if isinstance(value, str) and value else None


def input_title(data: Any) -> str | None:
    """What a run or a job is about: its input's ``title`` (a spec), else its ``path`` (a
    document); None when the input names neither. The merge gate titles its commit the
    same way."""
    if not isinstance(data, dict):
        return None
    for key in ("title", "path"):
        if isinstance(data.get(key), str) and data[key].strip():
            return " ".join(data[key].split())
    return None


def first_line(text: str | None, limit: int = ERROR_CHARS) -> str | None:
    """The first non-blank line of ``text``, its spaces collapsed, cut at ``limit``
    characters with ``…``; None for no text."""
    for line in (text or "").splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return None


def clip_lines(text: str, limit: int = DIFF_LINES) -> tuple[str, int]:
    """``text`` cut after ``limit`` lines, and how many lines were left out."""
    lines = text.splitlines()
    if len(lines) <= limit:
        return text, 0
    return "\n".join(lines[:limit]) + "\n", len(lines) - limit


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


def considered_runs(
    root: Path, night_id: str | None, since: datetime | None
) -> list[tuple[Path, dict[str, Any]]]:
    """The runs with a readable ``run.json`` of the night (if named) started at or after
    ``since`` (if given; naive is UTC), oldest first, with their ``run.json``."""
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


def node_statuses(run_dir: Path, meta: dict[str, Any]) -> dict[str, str]:
    """Node -> status: ``run.json`` nodes win; a running run falls back to metrics.json."""
    statuses: dict[str, str] = {}
    for node_dir in _node_dirs(run_dir):
        metrics = read_dict(node_dir / "metrics.json")
        if metrics and text_or_none(metrics.get("status")):
            statuses[node_dir.name] = metrics["status"]
        elif (node_dir / "error.json").is_file():
            statuses[node_dir.name] = "failed"
    nodes = meta.get("nodes")
    if isinstance(nodes, dict):
        statuses.update({k: v for k, v in nodes.items() if isinstance(v, str)})
    return dict(sorted(statuses.items()))


def agent_of(meta: dict[str, Any], run_dir: Path, node: str) -> str:
    """The agent@version that ran ``node``: ``run.json`` ``agents``, else the node's own
    error.json or metrics.json, else ``unknown``."""
    agents = meta.get("agents")
    if isinstance(agents, dict) and (agent := text_or_none(agents.get(node))):
        return agent
    for name in ("error.json", "metrics.json"):
        data = read_dict(run_dir / node / name)
        if data and (agent := text_or_none(data.get("agent"))):
            return agent
    return "unknown"


@dataclass(frozen=True)
class Change:
    """A run's change as a unified diff and where it was read (see :func:`change_of`):
    a ``diff.patch`` relative to the artifacts folder, or the ``git diff`` that gave it."""

    diff: str
    source: str


def _read_patch(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            raw = handle.read(_PATCH_BYTES)
    except OSError:
        return None
    text = raw.decode("utf-8", errors="replace")
    return text if text.strip() else None


def _git_diff(repo: Path, base: str, commit: str) -> str | None:
    """``git diff base..commit`` in ``repo``; None when git cannot say (gone, moved, slow)."""
    if not repo.is_dir():
        return None
    try:
        text = git(repo, "diff", "--no-color", f"{base}..{commit}", check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return text + "\n" if text.strip() else None


def change_of(run_dir: Path, meta: dict[str, Any], commit: str | None = None) -> Change | None:
    """The change a run made: the ``diff.patch`` of the last node (in the flow's order, as
    ``run.json`` ``nodes`` lists them) that wrote one; else, given the merge ``commit``,
    ``git diff BASE..COMMIT`` in the run's repository (``run.json`` ``repo`` and ``base``).
    None when neither says anything."""
    nodes = meta.get("nodes")
    order = [n for n in nodes if isinstance(n, str)] if isinstance(nodes, dict) else []
    order += [d.name for d in _node_dirs(run_dir) if d.name not in order]
    for node in reversed(order):
        diff = _read_patch(run_dir / node / PATCH_FILE)
        if diff is not None:
            return Change(diff, f"runs/{run_dir.name}/{node}/{PATCH_FILE}")
    repo, base = text_or_none(meta.get("repo")), text_or_none(meta.get("base"))
    if commit and repo and base:
        diff = _git_diff(Path(repo), base, commit)
        if diff is not None:
            return Change(diff, f"git diff {base[:12]}..{commit[:12]} in {repo}")
    return None


def pull_request(run_dir: Path, meta: dict[str, Any], run_id: str, flow: str) -> PullRequest | None:
    """What an ok run merged: the merge node's branch and commit, lines from every node's
    output, the run's title and its change (:func:`change_of`); None when the merge said
    ``merged: false`` or no branch is named."""
    merge: dict[str, Any] | None = None
    added = removed = changed = 0
    for node_dir in _node_dirs(run_dir):
        out = read_dict(node_dir / "output.json")
        if not out:
            continue
        if merge is None and text_or_none(out.get("branch")) and "commit" in out:
            merge = out
        if "lines_added" in out or "lines_removed" in out:
            added += _int(out.get("lines_added"))
            removed += _int(out.get("lines_removed"))
            changed += _int(out.get("files_changed"))
    if merge is not None and merge.get("merged") is False:
        return None
    branch = text_or_none((merge or {}).get("branch")) or text_or_none(meta.get("branch"))
    if branch is None:
        return None
    if merge is not None and "files_changed" in merge:
        changed = _int(merge.get("files_changed"))
    commit = text_or_none((merge or {}).get("commit"))
    change = change_of(run_dir, meta, commit)
    diff, omitted = clip_lines(change.diff) if change is not None else (None, 0)
    return PullRequest(
        run_id=run_id,
        flow=flow,
        title=input_title(meta.get("input")),
        branch=branch,
        commit=commit,
        files_changed=changed,
        lines_added=added,
        lines_removed=removed,
        diff=diff,
        diff_source=change.source if change is not None else None,
        diff_omitted=omitted,
    )


def review_pair(run_dir: Path, meta: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """The two reviewers' agents and verdicts from the first two review.json of a run."""
    verdicts: list[str] = []
    agents: list[str] = []
    for node_dir in _node_dirs(run_dir):
        review = read_dict(node_dir / "review.json")
        if review and text_or_none(review.get("verdict")):
            verdicts.append(review["verdict"])
            agents.append(agent_of(meta, run_dir, node_dir.name))
        if len(verdicts) == 2:
            return agents[0], agents[1], verdicts[0], verdicts[1]
    return None


def check_of(meta: dict[str, Any]) -> tuple[list[str], list[str], bool | None] | None:
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
        (
            list(dict.fromkeys(g for g in graded if text_or_none(g)))
            if isinstance(graded, list)
            else []
        ),
        passed,
    )


def is_refusal(kind: str, node: str, agent: str, check_nodes: list[str]) -> bool:
    """A failure that is the merge gate saying no, not the work failing (see GATE_KINDS)."""
    return (
        kind in GATE_KINDS
        and node not in check_nodes
        and not AgentRef.name_of(agent).startswith("check.")
    )


def reason_of(run_dir: Path, meta: dict[str, Any], node: str) -> str | None:
    """The error text of a failed node: run.json ``error``, else its error.json, else the
    run's FAILED.json."""
    if meta.get("failed_node") == node and (error := text_or_none(meta.get("error"))):
        return error
    for path in (run_dir / node / "error.json", run_dir / "FAILED.json"):
        data = read_dict(path) or {}
        if path.name == "FAILED.json" and data.get("node") != node:
            continue
        text = text_or_none(data.get("error")) or text_or_none(data.get("message"))
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


def _reviewer_row(agent: str, entry: dict[str, Any]) -> ReviewerRow:
    return ReviewerRow(
        agent=agent,
        canaries=_count(entry.get("canaries")),
        correct=_count(entry.get("correct")),
        accuracy=_num(entry.get("accuracy")),
        bad_seen=_count(entry.get("bad_seen")),
        false_passes=_count(entry.get("false_passes")),
        false_pass_rate=_num(entry.get("false_pass_rate")),
        window=_count(entry.get("window")),
    )


def read_reviewers(
    root: Path, night_id: str | None, pairs: list[tuple[str, str, str, str]]
) -> Reviewers:
    """Canary records from reviewers.json, joined with how many of the runs' review
    ``pairs`` each reviewer gave (κ is the summary's, over all pairs: one figure)."""
    rows: dict[str, ReviewerRow] = {}
    found = _reviewers_file(root, night_id)
    report = Reviewers()
    if found is not None:
        folder, data = found
        report.source = f"nights/{folder.name}/{REVIEWERS_FILE}"
        report.night_id = folder.name
        entries = data.get("reviewers")
        for agent, entry in entries.items() if isinstance(entries, dict) else []:
            if not text_or_none(agent) or not isinstance(entry, dict):
                continue
            rows[agent] = _reviewer_row(agent, entry)
            kinds = entry.get("kinds")
            for kind, record in kinds.items() if isinstance(kinds, dict) else []:
                if text_or_none(kind) and isinstance(record, dict):  # its record per kind
                    rows[f"{agent} · {kind}"] = _reviewer_row(f"{agent} · {kind}", record)
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
    for agent_a, agent_b, _, _ in pairs:
        for agent in dict.fromkeys((agent_a, agent_b)):
            rows.setdefault(agent, ReviewerRow(agent=agent)).pairs += 1
    report.rows = [rows[a] for a in sorted(rows)]
    return report


def endpoint_rows(record: Any) -> list[EndpointRow]:
    """The model servers one ``metrics.jsonl`` line names (``endpoints``), as they were at
    that sample; entries without a URL are skipped."""
    entries = record.get("endpoints") if isinstance(record, dict) else None
    rows = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not text_or_none(entry.get("url")):
            continue
        models = entry.get("models")
        up = entry.get("up")
        rows.append(EndpointRow(
            url=entry["url"],
            models=[m for m in models if isinstance(m, str)] if isinstance(models, list)
            else [],
            up=up if isinstance(up, bool) else True,
            in_flight=_int(entry.get("in_flight")), requests=_int(entry.get("requests")),
            errors=_int(entry.get("errors")), downs=_int(entry.get("downs")),
            tokens_per_s=_num(entry.get("tokens_per_s")),
            last_error=text_or_none(entry.get("last_error"))))
    return rows


def _add_endpoints(seen: dict[str, EndpointRow], tps: dict[str, list[float]],
                   record: Any) -> None:
    """Fold one metrics line's servers into the night's rows (the last sample wins)."""
    for row in endpoint_rows(record):
        before = seen.get(row.url)
        row.samples = (before.samples if before else 0) + 1
        row.down_samples = (before.down_samples if before else 0) + (not row.up)
        if row.tokens_per_s is not None:
            tps.setdefault(row.url, []).append(row.tokens_per_s)
        row.avg_tokens_per_s = _mean(tps.get(row.url, []))
        seen[row.url] = row


def night_stats(root: Path, night_id: str) -> NightStats:
    """Averages and the time series of the night's engine metrics (``metrics.jsonl``)."""
    batch: list[float] = []
    tps: list[float] = []
    p_wait: list[float] = []
    mean_wait: list[float] = []
    queue: list[float] = []
    last_rho: float | None = None
    series: list[SeriesPoint] = []
    endpoints: dict[str, EndpointRow] = {}
    endpoint_tps: dict[str, list[float]] = {}
    records = 0
    for record in iter_jsonl(root / "nights" / night_id / "metrics.jsonl"):
        records += 1
        _add_endpoints(endpoints, endpoint_tps, record)
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
        endpoints=list(endpoints.values()),
    )
