"""``pantheon run FLOW --input FILE``: one flow on one input (without a flow: a night).

While the run works, each node that ends gets a line on stderr, and on a terminal a live
line says which node works, its step and its tokens (:mod:`.run_progress`). A failed run
ends with the commands to look at it or fix it.

Exit status: 0 when the run ended ok, 1 when it failed (its artifacts say where), 2 for bad
input (a bad flow, input or option), 3 when the night policy refuses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pantheon_engine.cli.night import night_cmd
from pantheon_engine.cli.options import (
    ArtifactsOption,
    BaseUrlOption,
    ConfigOption,
    EngineOption,
    ModelOption,
    NightOption,
    ReplayOption,
    SearchOption,
    console,
    err_console,
    escape,
    fail,
    labelled,
)
from pantheon_engine.cli.run_progress import RunProgress, next_steps
from pantheon_engine.errors import ConfigError, PantheonError

if TYPE_CHECKING:
    from pantheon_engine.run.orchestrator import RunResult


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


def _check_input(flow_path: Path, run_input: dict[str, Any], workspace: Path,
                 input_file: Path) -> None:
    """Refuse (exit 2) an input that does not fit the flow, or names a path that does not
    suit the user's workspace, before a worktree is made or a model is loaded; the same
    check ``queue add`` makes."""
    from pantheon_engine.night.specs import FlowInput

    flow = FlowInput(flow_path)
    flow.check(run_input, str(input_file))
    flow.check_paths(run_input, workspace, str(input_file))


def run_cmd(
    flow_file: Annotated[str | None, typer.Argument(
        help="a built-in flow (docops, spec2code) or a flow YAML file; without one: drain "
             "the queue (a night)")]
    = None,
    input_file: Annotated[Path | None, typer.Option("--input", "-i", help="input JSON")]
    = None,
    night: NightOption = True,
    engine: EngineOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    replay: ReplayOption = None,
    artifacts: ArtifactsOption = Path("artifacts"),
    workspace: Annotated[Path | None, typer.Option("--workspace", help="repository to work on")]
    = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    search: SearchOption = 1,
    config: ConfigOption = None,
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
                  replay=replay, artifacts=artifacts, config=config, search=search)
        return
    if input_file is None:
        fail(ConfigError("a flow needs --input FILE (or run without a flow to drain the queue)"))
    try:
        flow_path = resolve_flow(flow_file)
        run_input = load_input(input_file)
        ws = _workspace_for(workspace, run_input, input_file)
        _check_input(flow_path, run_input, ws, input_file)
        with RunProgress(err_console, live=False if as_json else None) as progress:
            result = asyncio.run(run_once(
                flow_path, run_input, mode="night" if night else "day", workspace=ws,
                artifacts=artifacts, engine=engine, model=model, base_url=base_url,
                replay=replay, seed=seed, search=search, config=config,
                progress=None if as_json else err_console,
                on_event=None if as_json else progress.on_event,
            ))
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        print_summary(result)
        if result.status != "ok":
            print_next_steps(result, artifacts)
    raise typer.Exit(0 if result.status == "ok" else 1)


def print_next_steps(result: RunResult, artifacts: Path) -> None:
    """After a failure: ``pantheon fix RUN_ID`` (a run with a document agent) and the
    room's report screen."""
    out = console if console.is_terminal else Console(width=120, emoji=False)
    out.print(Text("next:", style="bold"))
    for line in next_steps(result.run_id, artifacts, fixable=_fixable(result, artifacts)):
        out.print(Text(f"  {line}"), highlight=False, soft_wrap=True)


def _fixable(result: RunResult, artifacts: Path) -> bool:
    """Whether ``pantheon fix`` takes the run: it ran a document agent (docops)."""
    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.specialize.fixes import docops_node, read_run

    try:
        docops_node(read_run(artifacts, result.run_id), default_registry())
    except (PantheonError, OSError, ValueError):
        return False
    return True


def print_summary(result: RunResult) -> None:
    """The run's nodes as a table, then its status, branch and artifacts folder."""
    out = console if console.is_terminal else Console(width=120, emoji=False)
    table = Table(title=f"{result.flow} · {result.run_id}", title_justify="left")
    for col in ("node", "agent", "status", "steps", "tools", "schema err", "tokens", "s"):
        table.add_column(col, justify="right" if col in {"steps", "tools", "schema err",
                                                         "tokens", "s"} else "left")
    colors = {"ok": "green", "failed": "red", "skipped": "yellow", "not_run": "dim"}
    for node in result.nodes:
        schema = node.failures.get("schema", 0) + node.failures.get("parse", 0)
        table.add_row(
            node.id, Text(node.agent), Text(node.status, style=colors[node.status]),
            str(node.steps),
            str(node.tool_calls), str(schema),
            str(node.prompt_tokens + node.completion_tokens), f"{node.seconds:.1f}",
        )
    out.print(table)
    tokens = sum(n.prompt_tokens + n.completion_tokens for n in result.nodes)
    line = (f"status [bold]{result.status}[/] · {result.seconds:.1f}s · tokens {tokens} · "
            f"schema errors {result.schema_errors}")
    if result.branch:
        line += f" · branch [cyan]{escape(result.branch)}[/]"
    out.print(line, highlight=False, soft_wrap=True)
    if result.status != "ok":
        out.print(labelled(f"failed at {result.failed_node} ({result.error_kind}):", "red",
                           str(result.error)), highlight=False, soft_wrap=True)
    out.print(f"artifacts: {result.dir}", highlight=False, soft_wrap=True)
