"""``pantheon night`` (and ``pantheon run`` without a flow): drain the queue headless.

Exit status: 0 when the night ran (whatever its jobs did) or the queue was empty, 2 for bad
input (a bad option or config, a version that cannot be served), 3 when the night policy
refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantheon_engine.cli.options import (
    BaseUrlOption,
    ConfigOption,
    EngineOption,
    ModelOption,
    QueueOption,
    ReplayOption,
    SearchOption,
    console,
    err_console,
    fail,
    labelled,
    queue_named,
    say_err,
)
from pantheon_engine.errors import ConfigError, PantheonError

if TYPE_CHECKING:
    from pantheon_engine.night.drain import NightResult
    from pantheon_engine.night.queue_base import JobQueueBase
    from pantheon_engine.run.serving import Served

    Queued = tuple[JobQueueBase, float | None]


class _QueueEmpty(Exception):
    """Nothing queued and nothing running: the night has nothing to do."""


def _deadline(text: str | None) -> float | None:
    """``06:00`` (the next such local time) or an ISO date-time, as unix seconds."""
    import datetime as dt

    if not text:
        return None
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(part) for part in text.split(":"))
            now = dt.datetime.now()
            target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if target <= now:
                target += dt.timedelta(days=1)
            return target.timestamp()
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise ConfigError(f"--until {text!r}: expected HH:MM or an ISO date-time") from exc


def _canary_share(share: float | None, engine: str) -> float:
    """``--canary-share`` as given, else 0.2 (0 for a replay: it has no canary replies)."""
    if share is not None:
        return share
    return 0.0 if engine == "replay" else 0.2


def night_cmd(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="flows at once")] = 32,
    until: Annotated[str | None, typer.Option("--until", help="stop claiming at HH:MM")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="after a crash: reclaim expired claims and finish the queue")] = False,
    night_mode: Annotated[bool, typer.Option("--night/--day")] = True,
    engine: EngineOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    replay: ReplayOption = None,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
    sample_s: Annotated[float, typer.Option("--sample-s", help="metrics interval")] = 5.0,
    lease_s: Annotated[float, typer.Option("--lease-s", help="claim lease (heartbeats "
                                           "renew it)")] = 120.0,
    canary_share: Annotated[float | None, typer.Option(
        "--canary-share", min=0.0, max=1.0, show_default=False,
        help="after each reviewed run, the chance of one more canary (known-answer review "
        "item); 0 turns canaries and the reviewer gate off [default: 0.2; with --replay 0, "
        "a recording has no replies for canaries]")] = None,
    canaries: Annotated[Path | None, typer.Option(
        "--canaries", help="task suite folder to build document canaries from (default: the "
        "night's own queued documents, or generated when they give too few)")
    ] = None,
    canary_calibration: Annotated[int, typer.Option(
        "--canary-calibration", min=0,
        help="canaries each flow's reviewers get alongside its first run (the merge gate "
        "waits for them)")] = 10,
    search: SearchOption = 1,
    merge_remote: Annotated[str | None, typer.Option(
        "--merge-remote", help="push every merged branch to this git remote (a folder or "
        "file:// URL every worker reaches; at night another host only if the policy allows "
        "it)")] = None,
    learn: Annotated[bool, typer.Option(
        "--learn", help="end the night with one round of learning for each agent "
        "pantheon.toml gives a suite ([learn] suites): the night's verified work and a "
        "harvest with the current version, trained from the base, promoted only if it "
        "wins on the holdout")] = False,
    queue: QueueOption = None,
    traces_file: Annotated[Path | None, typer.Option(
        "--traces", help="trace store of this worker [default: ARTIFACTS/traces.sqlite]; with "
        "workers on several machines give each a file on its own disk (an SQLite file must "
        "not be written from two machines)")] = None,
    wait_for_others: Annotated[bool | None, typer.Option(
        "--wait-for-others/--no-wait-for-others", show_default=False,
        help="when nothing is left to claim, stay while other workers hold jobs: a worker "
        "that dies gives its jobs back when its lease runs out, and they are claimed here "
        "[default: on for a PostgreSQL queue, off for SQLite]")] = None,
    config: ConfigOption = None,
) -> None:
    """Drain the queue headless with c concurrent flows; live numbers in metrics.jsonl.

    Several workers (on one machine or several) drain one queue together when they share
    it: a PostgreSQL --queue URL, and an --artifacts folder every worker can reach."""
    import signal

    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.loop.traces import TraceStore
    from pantheon_engine.night.drain import Night
    from pantheon_engine.night.queue_open import (
        check_night_queue,
        is_postgres,
        open_queue,
        queue_location,
    )
    from pantheon_engine.run.serving import (
        EngineOptions,
        ServingScope,
        open_serving,
        queued_agents,
    )

    async def drain(served: Served[Queued]) -> NightResult:
        jobs, deadline = served.prepared
        engine_obj = served.engine
        assert engine_obj is not None  # a night always serves a model
        ping = getattr(engine_obj, "ping", None)
        if ping is not None:  # preflight: the model server answers
            await ping()

        # a live bar on a terminal, plain log lines otherwise (cron, CI, a pipe)
        progress = Progress(
            TextColumn("[bold]night[/]"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=err_console, transient=False,
        ) if err_console.is_terminal else None
        bar = progress.add_task("jobs", total=jobs.depth() + (
            jobs.counts().get("running") or 0), info="") if progress else None

        def on_event(event: str, data: dict[str, Any]) -> None:
            if event == "job_finished":
                mark = "ok" if data["status"] == "ok" else f"FAILED ({data.get('kind')})"
                err_console.print(f"job {data['job']}: {mark} {data.get('run_id') or ''}",
                                  highlight=False)
                if progress is not None and bar is not None:
                    stats = engine_obj.stats()
                    progress.update(bar, advance=1, info=(
                        f"batch {stats.batch_size:.0f} · {stats.tokens_per_s:.0f} tok/s"))
            elif event == "reclaimed":
                err_console.print(f"resuming {data['jobs']} job(s) a dead night held",
                                  highlight=False)
            elif event == "job_resumed":
                err_console.print(f"job {data['job']}: resuming run {data['run_id']}",
                                  highlight=False)
            elif event == "stopping":
                err_console.print(f"stopping ({data['why']}): finishing the flows in "
                                  "flight", highlight=False)

        traces = (TraceStore(traces_file) if traces_file is not None
                  else TraceStore.for_artifacts(artifacts))
        runner = Night(queue=jobs, registry=served.registry, engine=engine_obj,
                       policy=served.policy, artifacts=artifacts, concurrency=concurrency,
                       until=deadline, sample_s=sample_s, on_event=on_event,
                       traces=traces, lease_s=lease_s, resume=resume,
                       canary_share=_canary_share(canary_share, engine_obj.name),
                       canary_source=canaries,
                       canary_calibration=canary_calibration, search=search,
                       merge_remote=merge_remote,
                       wait_for_others=wait_for_others if wait_for_others is not None
                       else is_postgres(where))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, runner.stop, "interrupted")
        loop.add_signal_handler(signal.SIGTERM, runner.stop, "terminated")
        err_console.print(f"night {runner.night_id}: {jobs.depth()} queued, "
                          f"concurrency {concurrency}, engine {engine_obj.name}",
                          highlight=False)
        if progress is not None:
            progress.start()
        try:
            return await runner.run()
        finally:
            if progress is not None:
                progress.stop()
            traces.close()

    async def main() -> NightResult | None:
        # the queue stays open for the whole night, and closes after the engine
        with contextlib.ExitStack() as held:

            def scope() -> ServingScope[Queued]:
                deadline = _deadline(until)
                if night_mode:  # before the night's guard: a queue host is looked up here
                    check_night_queue(where)
                jobs = held.enter_context(open_queue(where, notify=say_err))
                if jobs.depth() == 0 and not jobs.counts().get("running"):
                    raise _QueueEmpty
                # each model agent's current version, its weights verified by hash
                registry = default_registry()
                return ServingScope(registry, agents=queued_agents(jobs, registry),
                                    prepared=(jobs, deadline))

            def notes(served: Served[Queued]) -> None:
                for note in served.plan.notes:
                    err_console.print(labelled("note:", "yellow", note), highlight=False,
                                      soft_wrap=True)

            options = EngineOptions(name=engine, model=model, base_url=base_url,
                                    replay=replay, config=config, concurrency=concurrency)
            try:
                # the engine starts here: the model loads (pulled first if missing)
                async with open_serving("night" if night_mode else "day", options,
                                        artifacts=artifacts, scope=scope,
                                        ready=notes) as served:
                    return await drain(served)
            except _QueueEmpty:
                err_console.print("the queue is empty: nothing to do "
                                  "(pantheon queue add FLOW --input …)")
                return None

    learning: list[tuple[str, Path]] = []
    try:
        if merge_remote is not None:
            _check_merge_remote(merge_remote, night_mode, config)
        if learn:
            from pantheon_engine.config import load_settings
            from pantheon_engine.specialize.night_learn import learn_plan

            learning = learn_plan(load_settings(config).learn)  # a typo costs no night
            if not learning:
                err_console.print(labelled("note:", "yellow", "--learn: pantheon.toml names "
                                           "no [learn] suites, so no agent learns tonight"),
                                  highlight=False, soft_wrap=True)
        where = queue_location(artifacts, queue_named(queue, config))
        result = asyncio.run(main())
    except PantheonError as exc:
        fail(exc)
    if result is None:
        return
    if learning:
        _learn(result, artifacts=artifacts, model=model, config=config)
    console.print(f"night {result.night_id}: {result.done} done, {result.failed} failed in "
                  f"{result.seconds:.1f}s ({result.stopped_by})", highlight=False)
    console.print(f"metrics: {result.dir}/metrics.jsonl", highlight=False, soft_wrap=True)
    console.print(f"report:  {result.dir}/report.md · {result.dir}/report.html",
                  highlight=False, soft_wrap=True)


def _learn(result: NightResult, *, artifacts: Path, model: str | None,
           config: Path | None) -> None:
    """The night's closing round of learning; its lines go to stderr, its reports to files."""
    from pantheon_engine.config import load_settings
    from pantheon_engine.specialize.night_learn import learn_after_night

    try:
        learned = learn_after_night(
            load_settings(config).learn, night_dir=Path(result.dir), artifacts=artifacts,
            model=model, config=config, console=err_console,
            say=lambda text: err_console.print(text, highlight=False, soft_wrap=True))
    except PantheonError as exc:
        fail(exc)
    for agent in learned:
        if agent.rounds is not None:
            for line in agent.rounds.lines():
                console.print(line, highlight=False, soft_wrap=True)
        console.print(f"learn {agent.agent}: {agent.report}", highlight=False, soft_wrap=True)


def _check_merge_remote(remote: str, night_mode: bool, config: Path | None) -> None:
    """A remote a night may push to, answering as a git repository; else a ConfigError."""
    from pantheon_engine.config import load_settings
    from pantheon_engine.gitops import check_remote, remote_host, remote_is_local
    from pantheon_engine.policy import Policy

    host = remote_host(remote)
    if night_mode and not remote_is_local(remote) and not (host and Policy(
            mode="night", allowed_hosts=tuple(load_settings(config).policy.allowed_hosts)
    ).host_allowed(host)):
        raise ConfigError(f"--merge-remote {remote}: a night pushes only to a folder or "
                          f"file:// remote, or a host [policy] allowed_hosts names (host "
                          f"{host} is not local)",
                          hint="mount the shared repository on every worker, allow its host "
                          "in pantheon.toml, or push by day (--day)")
    check_remote(remote)
