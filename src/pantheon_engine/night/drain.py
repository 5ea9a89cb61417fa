"""A night: drain the queue with c concurrent flows and stream live numbers to a file.

Every worker claims a job (a lease kept alive by heartbeats), runs its flow through the
orchestrator and marks the job done or failed. A sampler appends one line every
``sample_s`` to ``nights/<night_id>/metrics.jsonl``. Asking the night to stop (Ctrl-C,
the ``--until`` deadline, an empty queue) stops new claims; flows in flight finish.
A night killed outright leaves its claims to expire: the next night reclaims them.

With ``canary_share`` above 0 the reviewers are measured, not trusted: canaries
(known-answer review items, see :mod:`pantheon_engine.night.reviewing`) go to each flow's review
nodes (code canaries to flows that write code, document canaries to the others), first as
a calibration batch started with the flow's first run and reviewed alongside it (the merge
gate waits for the batch, the run's agents do not), then after each run that reached its
reviews with probability ``canary_share``. A :class:`ReviewerLedger` scores
them (``canaries.jsonl``, ``reviewers.json``) and the merge gate reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.artifacts import new_run_id, utc_now
from pantheon_engine.atomic import append_jsonl, atomic_write_json, read_dict
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import ConfigError, PantheonError, SpecError
from pantheon_engine.faults import crash_point
from pantheon_engine.kappa import KappaWindow, cohen_kappa
from pantheon_engine.night.capacity import erlang_c, mean_wait
from pantheon_engine.night.queue_base import JobQueueBase
from pantheon_engine.night.queue_model import Job, new_owner
from pantheon_engine.night.reviewing.canary import CanarySource, load_canaries
from pantheon_engine.night.reviewing.ledger import ReviewerLedger
from pantheon_engine.night.reviewing.runner import CanaryRunner
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import Flow, load_flow_checked
from pantheon_engine.run.orchestrator import Orchestrator, RunResult
from pantheon_engine.run.search import check_search

#: key of a job input holding sampling options: {"seed", "temperature", "meta"}
SAMPLING_KEY = "_sampling"


def new_night_id() -> str:
    """``20261120T220000Z-night-0f3a``: when it started, then 4 random hex digits, so
    workers that start in the same second (several machines on one queue) do not share a
    night folder."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-night-{uuid.uuid4().hex[:4]}"


class NightResult(BaseModel):
    night_id: str
    dir: str
    done: int
    failed: int
    seconds: float
    stopped_by: str


@dataclass
class _Tally:
    """What the sampler reads: counts, service times, waits, verdict pairs."""

    started: float = field(default_factory=time.time)
    arrivals: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    service_s: list[float] = field(default_factory=list)
    waits_s: list[float] = field(default_factory=list)
    model_calls: int = 0
    schema_errors: int = 0
    verdicts: list[tuple[str, str]] = field(default_factory=list)
    checked: int = 0  # runs whose work reached its acceptance checks
    checked_passed: int = 0


@dataclass
class Night:
    queue: JobQueueBase
    registry: AgentRegistry
    engine: Engine | None
    policy: Policy
    artifacts: Path
    concurrency: int = 32
    until: float | None = None  # unix time
    lease_s: float = 120.0
    sample_s: float = 5.0
    night_id: str = field(default_factory=new_night_id)
    on_event: Any = None
    traces: Any = None  # a TraceStore for every model and tool call of the night
    #: reviewer agreement the merge gate checks: the last ``size`` verdict pairs
    kappa_window: KappaWindow = field(default_factory=lambda: KappaWindow(size=50, min_pairs=10))

    #: a git remote every merge is pushed to as its branch (None: the local repository only)
    merge_remote: str | None = None
    resume: bool = False  # end the leases of dead nights on this host before starting
    #: share of real review requests followed by a canary (0: canaries off, reviewers and
    #: the merge gate work as without a ledger)
    canary_share: float = 0.0
    #: a task suite folder to build canaries from (None: generated in memory)
    canary_source: Path | None = None
    #: canaries each flow's reviewers get before the flow's first run
    canary_calibration: int = 10
    canary_seed: int = 0
    #: candidates per model node that feeds a check (1: no search; see run/search.py)
    search: int = 1
    #: when nothing is claimable, stay while other workers hold jobs (a shared queue): a
    #: dead worker's jobs come back when its leases run out, and are claimed here
    wait_for_others: bool = False

    def __post_init__(self) -> None:
        check_search(self.search)
        self.dir = Path(self.artifacts) / "nights" / self.night_id
        self._owner = new_owner()
        self._stop = asyncio.Event()
        self._stopped_by = "empty"
        self._flows: dict[str, Flow] = {}
        self._tally = _Tally()
        self._group: str | None = None
        if not 0.0 <= self.canary_share <= 1.0:
            raise ConfigError(f"canary share must be between 0 and 1, got {self.canary_share}")
        if self.canary_calibration < 0:
            raise ConfigError("canary calibration must be 0 or more, got "
                              f"{self.canary_calibration}")
        #: canary results and reviewer agreement; None while canaries are off
        self.ledger: ReviewerLedger | None = None
        self.canaries: CanaryRunner | None = None
        if self.canary_share > 0:
            self.ledger = ReviewerLedger(self.dir, kappa=self.kappa_window)

    def stop(self, why: str = "stopped") -> None:
        """Claim nothing more; flows in flight finish."""
        if not self._stop.is_set():
            self._stopped_by = why
            self._stop.set()
            self._emit("stopping", {"why": why})

    async def run(self) -> NightResult:
        self.policy.preflight()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.resume:
            ended = self.queue.expire_dead_leases()
            if ended:
                self._emit("reclaimed", {"jobs": ended})
        self._tally.arrivals = self.queue.depth()
        canaries = self._start_canaries()
        atomic_write_json(self.dir / "night.json", {
            "night_id": self.night_id, "started_at": utc_now(), "concurrency": self.concurrency,
            "mode": self.policy.mode, "engine": self.engine.name if self.engine else None,
            "model": self.engine.model if self.engine else None, "owner": self._owner,
            "queued_at_start": self._tally.arrivals, "canaries": canaries,
            **({"allowed_hosts": list(self.policy.allowed_hosts)}
               if self.policy.allowed_hosts else {}),
        })
        started = time.perf_counter()
        sampler = asyncio.create_task(self._sample_forever())
        try:
            with self.policy.egress_guard():
                await asyncio.gather(*(self._worker(i) for i in range(self.concurrency)))
        finally:
            sampler.cancel()
            self._sample()  # the last line: final counts
            if self.traces is not None:
                self.traces.flush()
        result = NightResult(night_id=self.night_id, dir=str(self.dir), done=self._tally.done,
                             failed=self._tally.failed, seconds=time.perf_counter() - started,
                             stopped_by=self._stopped_by)
        atomic_write_json(self.dir / "night.json", {
            **(read_dict(self.dir / "night.json") or {}), "finished_at": utc_now(),
            **result.model_dump(exclude={"dir"}),
        })
        from pantheon_engine.night.report import write_report
        from pantheon_engine.night.summary import build_summary

        summary = build_summary(self.artifacts, night_id=self.night_id, queue=self.queue)
        write_report(self.artifacts, summary, self.dir)
        return result

    def _start_canaries(self) -> dict[str, Any] | None:
        """Build the canary pool and its runner (canaries on); what night.json records."""
        if self.ledger is None:
            return None
        source = CanarySource(suite=self.canary_source, seed=self.canary_seed)
        queued = [job.input for job in self.queue.list(states=["queued"], limit=None)]
        pool = load_canaries(source, [data for data in queued if isinstance(data, dict)])
        self.canaries = CanaryRunner(
            registry=self.registry, engine=self.engine, policy=self.policy, ledger=self.ledger,
            pool=pool, folder=self.dir / "canaries", night_id=self.night_id,
            share=self.canary_share, calibration=self.canary_calibration,
            seed=self.canary_seed, on_event=self._emit)
        self.ledger.save()
        return {"share": self.canary_share, "calibration": self.canary_calibration,
                "source": str(self.canary_source) if self.canary_source else (
                    "generated" if pool[0].source.startswith("generated") else
                    pool[0].source),
                "seed": self.canary_seed, "pool": len(pool),
                "bad": sum(c.expected == "fail" for c in pool),
                "code_pool": len(self.canaries.code_pool or []),
                "code_bad": sum(c.expected == "fail" for c in self.canaries.code_pool or [])}

    # -- workers -----------------------------------------------------------------------

    async def _worker(self, slot: int) -> None:
        while not self._stop.is_set():
            if self.until is not None and time.time() >= self.until:
                self.stop("deadline")
                return
            # prefer jobs of the agent group just served: its requests batch together
            job = self.queue.claim(self._owner, lease_s=self.lease_s, group_key=self._group)
            if job is None:
                if self.wait_for_others and self._others_hold_jobs():
                    await self._pause(min(1.0, self.lease_s / 4))
                    continue
                return  # nothing left to claim (others may still be running theirs)
            crash_point("after_claim")
            self._group = job.group_key
            await self._run_job(job)

    def _others_hold_jobs(self) -> bool:
        """Whether another worker holds a running job (its lease may yet run out)."""
        return any(job.lease_owner != self._owner
                   for job in self.queue.list(states=["running"], limit=None))

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the night is asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _run_job(self, job: Job) -> None:
        tally = self._tally
        tally.running += 1
        claimed = time.time()
        tally.waits_s.append(max(0.0, claimed - job.created_at))
        self._emit("job_started", {"job": job.id, "flow": job.flow_name})
        beat = asyncio.create_task(self._heartbeat(job))
        result: RunResult | None = None
        try:
            result = await self._run_flow(job)
        except PantheonError as exc:
            self.queue.fail(job.id, self._owner, getattr(exc, "kind", "invalid_job"),
                            exc.message)
            tally.failed += 1
            self._emit("job_finished", {"job": job.id, "status": "failed",
                                        "kind": getattr(exc, "kind", "invalid_job")})
        else:
            self._account(result)
            if result.status == "ok":
                self.queue.complete(job.id, self._owner, result.run_id)
                crash_point("after_done")
                tally.done += 1
            else:
                self.queue.fail(job.id, self._owner, result.error_kind or "failed",
                                result.error or "", run_id=result.run_id)
                tally.failed += 1
            self._emit("job_finished", {"job": job.id, "status": result.status,
                                        "run_id": result.run_id, "kind": result.error_kind})
        finally:
            beat.cancel()
            tally.running -= 1
            tally.service_s.append(time.time() - claimed)
        if result is not None and self.canaries is not None:
            await self.canaries.after_run(self._flows[job.flow], result)

    async def _run_flow(self, job: Job) -> RunResult:
        flow = self._flows.get(job.flow)
        if flow is None:
            flow = self._flows[job.flow] = load_flow_checked(Path(job.flow), self.registry)
        data = dict(job.input)
        # a sampled job (a best-of-k harvest) carries its seed, temperature and run.json
        # facts here; the flow never sees them
        sampling = data.pop(SAMPLING_KEY, None) or {}
        workspace = data.get("workspace")
        if not isinstance(workspace, str) or not workspace:
            raise SpecError(f"job {job.id}: the input names no workspace")
        shared: dict[str, Any] = {"kappa_window": self.kappa_window,
                                  "merge_remote": self.merge_remote}
        if self.canaries is not None:  # the gate trusts reviewers only as far as measured
            shared.update(reviewer_ledger=self.ledger,
                          reviewer_ready=self.canaries.start_calibration(flow),
                          reviewer_kind=self.canaries.kind(flow),
                          reviewer_refs=self.canaries.reviewer_refs(flow))
        orchestrator = Orchestrator(
            registry=self.registry, engine=self.engine, policy=self.policy,
            artifacts_root=Path(self.artifacts),
            run_meta={**(sampling.get("meta") or {}), "night_id": self.night_id,
                      "job_id": job.id}, traces=self.traces,
            shared=shared, seed=sampling.get("seed"), temperature=sampling.get("temperature"),
            search=self.search,
        )
        # a job a dead night left behind resumes its run: completed nodes are not rerun
        if job.run_id and orchestrator.resumable(job.run_id):
            run_id = job.run_id
            self._emit("job_resumed", {"job": job.id, "run_id": run_id})
        else:
            run_id = new_run_id(flow.name)
        self.queue.attach_run(job.id, self._owner, run_id)
        return await orchestrator.run(flow, data, Path(workspace), run_id=run_id)

    async def _heartbeat(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if not self.queue.heartbeat(job.id, self._owner, self.lease_s):
                self._emit("lease_lost", {"job": job.id})
                return

    def _account(self, result: RunResult) -> None:
        tally = self._tally
        passed = (result.check or {}).get("passed")
        if passed is not None:  # graded by its checks (None: failed before a check ran)
            tally.checked += 1
            tally.checked_passed += int(passed)
        for node in result.nodes:
            tally.model_calls += node.steps
            tally.schema_errors += node.failures.get("schema", 0) + node.failures.get("parse", 0)
        reviews = sorted(Path(result.dir).glob("*/review.json"))
        if len(reviews) >= 2:
            verdicts = [(read_dict(path) or {}).get("verdict", "") for path in reviews[:2]]
            tally.verdicts.append((verdicts[0], verdicts[1]))

    # -- metrics -----------------------------------------------------------------------

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sample_s)
            self._sample()

    def _sample(self) -> None:
        append_jsonl(self.dir / "metrics.jsonl", self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        """One metrics line: engine, queue, M/M/c numbers, observed waits, quality, and with
        several model servers each one's numbers (``endpoints``)."""
        tally = self._tally
        stats = self.engine.stats() if self.engine else None
        now = time.time()
        hours = max((now - tally.started) / 3600, 1e-9)
        served = tally.service_s
        arrival_rate = tally.arrivals / hours if tally.arrivals else 0.0
        service_rate = 3600 / statistics.fmean(served) if served else 0.0
        c = self.concurrency
        rho = arrival_rate / (c * service_rate) if service_rate else None
        p_wait = wait = None
        if rho is not None and arrival_rate > 0:
            p_wait = erlang_c(c, arrival_rate / service_rate) if rho < 1 else 1.0
            wait_h = mean_wait(arrival_rate, service_rate, c)
            wait = wait_h * 3600 if math.isfinite(wait_h) else None
        waits = sorted(tally.waits_s)
        endpoints = {"endpoints": [e.model_dump(mode="json") for e in stats.endpoints]} \
            if stats is not None and stats.endpoints else {}
        return {
            "t": now, "night_id": self.night_id,
            "batch_size": stats.batch_size if stats else 0.0,
            "avg_batch_size": stats.avg_batch_size if stats else 0.0,
            "tokens_per_s": stats.tokens_per_s if stats else 0.0,
            "queue_depth": self.queue.depth(), "running": tally.running,
            "done": tally.done, "failed": tally.failed, "c": c,
            "lambda_per_h": arrival_rate, "mu_per_h": service_rate, "rho": rho,
            "p_wait": p_wait, "erlang_mean_wait_s": wait,
            "observed_mean_wait_s": statistics.fmean(waits) if waits else None,
            "observed_p95_wait_s": waits[min(len(waits) - 1, int(0.95 * len(waits)))]
            if waits else None,
            "schema_error_rate": tally.schema_errors / tally.model_calls
            if tally.model_calls else None,
            "kappa": cohen_kappa(tally.verdicts),
            "review_pairs": len(tally.verdicts),
            "checked": tally.checked, "checked_passed": tally.checked_passed,
            "check_pass_rate": tally.checked_passed / tally.checked if tally.checked else None,
            **(self.ledger.metrics() if self.ledger is not None else
               {"canaries": 0, "canary_accuracy": None, "canary_false_pass_rate": None}),
            **endpoints,
        }

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event, data)
