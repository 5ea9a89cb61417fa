"""The command line as a new user meets it: --version, completion, help that shows what was
written (switches as switches, examples), text printed as written, --json on every listing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.cli.options import console, fail
from pantheon_engine.errors import UserError
from pantheon_engine.evals.curve import CurvePoint, make_curve, save_curve
from pantheon_engine.night.jobqueue import JobQueue

runner = CliRunner()


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def command_paths() -> list[list[str]]:
    """Every command and group of the CLI, as the words a user types."""
    found: list[list[str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


# --------------------------------------------------------------------------- point 7


def test_version() -> None:
    from importlib.metadata import version

    assert ok("--version").strip() == f"pantheon {version('pantheon')}"


def test_shell_completion_is_offered_and_works() -> None:
    assert "--install-completion" in ok("--help")
    assert "complete" in ok("--show-completion", "bash")


def test_no_help_shows_a_switch_as_taking_a_value() -> None:
    paths = command_paths()
    assert len(paths) > 30
    for path in paths:
        text = ok(*path, "--help")
        assert "<bool>" not in text, path
    assert "  --force\n" in ok("init", "agent", "--help")


@pytest.mark.parametrize("command", [["queue", "add"], ["run"], ["report"], ["fix"],
                                     ["eval"], ["specialize"]])
def test_everyday_commands_show_examples(command: list[str]) -> None:
    text = ok(*command, "--help")
    examples = [line.strip() for line in text.split("Examples:\n", 1)[1].splitlines()]
    assert examples and all(line.startswith("pantheon ") for line in examples if line)
    assert any(line.startswith(f"pantheon {' '.join(command)}") for line in examples)


def test_the_command_list_is_not_cut_mid_sentence() -> None:
    commands = ok("--help").split("Commands:\n", 1)[1]
    assert "..." not in commands
    assert "interval, pass@k, failures" in " ".join(commands.split())


# --------------------------------------------------------------------------- point 5


def test_help_prints_brackets_as_written() -> None:
    assert "`[vllm]` extra" in " ".join(ok("serve", "vllm", "--help").split())


def test_errors_print_markup_and_emoji_codes_as_written(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    with pytest.raises(typer.Exit) as done:
        fail(UserError("the key [bold]date[/bold] :date: is [vllm]", hint="see [x]"))
    assert done.value.exit_code == 2
    assert capsys.readouterr().err == ("error: the key [bold]date[/bold] :date: is [vllm]\n"
                                       "  hint: see [x]\n")


def test_tables_print_emoji_codes_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.table import Table

    table = Table()
    table.add_column("failed")
    table.add_row("absent:date: not met")
    console.print(table)
    assert "absent:date: not met" in capsys.readouterr().out


def test_a_flow_problem_is_printed_as_written(tmp_path: Path) -> None:
    flow = tmp_path / "[x]flow.yaml"
    flow.write_text("name: x\nnodes: []\n")
    result = runner.invoke(app, ["flows", "check", str(flow)])
    assert result.exit_code == 2 and f"✗ {flow}: " in result.stderr


# --------------------------------------------------------------------------- point 8


def json_of(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_tool_list_json() -> None:
    tools = json_of("tool", "list", "--json")
    names = {tool["name"] for tool in tools}
    assert "read_file" in names
    read_file = next(tool for tool in tools if tool["name"] == "read_file")
    assert read_file["description"] and "path" in read_file["args_schema"]["properties"]


def test_models_list_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTHEON_HOME", str(tmp_path))
    models = json_of("models", "list", "--json")
    default = next(m for m in models if m["default"])
    assert default["name"] == "qwen2.5-coder-1.5b" and default["present"] is False
    assert {"kind", "path", "size", "source", "license", "sha256"} <= set(default)


def test_agents_list_json(tmp_path: Path) -> None:
    agents = json_of("agents", "list", "--json", "--artifacts", str(tmp_path))
    doc = next(a for a in agents if a["name"] == "doc.frontmatter")
    assert doc["current"] == "doc.frontmatter@1" and doc["kind"] == "model"
    assert doc["versions"][0]["agent"] == "doc.frontmatter"
    assert doc["versions"][0]["number"] == 1


def test_flows_check_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnodse: []\n")
    found = json_of("flows", "check", "docops", str(bad), "--json", code=2)
    assert [f["ok"] for f in found] == [True, False]
    assert found[0]["flow"]["name"] == "docops" and found[0]["flow"]["nodes"]
    problem = found[1]["problems"][0]
    assert problem["line"] == 2 and "nodse" in problem["message"]


def test_curve_show_json_is_the_curve_files(tmp_path: Path) -> None:
    point = CurvePoint.model_validate({"examples": 10, "passed": 3, "total": 20})
    path = save_curve(tmp_path, make_curve("doc.frontmatter", "rule", "suites/x", [point]))
    assert json_of("curve", "show", "--json", "--artifacts", str(tmp_path)) == [
        json.loads(path.read_text())]


def test_queue_list_json(tmp_path: Path) -> None:
    with JobQueue.for_artifacts(tmp_path) as queue:
        queue.add("docops", {"path": "a.md"}, flow_name="docops", priority=3)
    listed = json_of("queue", "list", "--json", "--artifacts", str(tmp_path))
    job = listed["jobs"][0]
    assert job["flow_name"] == "docops" and job["state"] == "queued" and job["priority"] == 3
    assert json.loads(job["input_json"]) == {"path": "a.md"}
    assert listed["counts"]["queued"] == 1


def test_a_failed_runs_error_is_printed_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    from pantheon_engine.cli.run import print_summary
    from pantheon_engine.run.orchestrator import NodeResult, RunResult

    error = "check: [red]date[/red] :date: not YYYY-MM-DD"
    print_summary(RunResult(
        run_id="r1", flow="docops", status="failed", dir="artifacts/runs/r1", seconds=1.0,
        nodes=[NodeResult(id="check", agent="check.rules", status="failed")],
        failed_node="check", error_kind="check_failed", error=error))
    out = capsys.readouterr().out
    assert f"failed at check (check_failed): {error}" in out
