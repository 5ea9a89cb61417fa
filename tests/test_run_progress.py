"""What `pantheon run` shows while a model works, and what it says after a failure.

Off a terminal (these subprocesses write to pipes) nothing moves: each node that ends gets
a line on stderr and nothing else. On a terminal a live line names the node, its step and
its tokens; :class:`RunProgress` is checked on a recording console with a hand-set clock.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from pantheon_engine.cli.run_progress import RunProgress, next_steps

from conftest import EXAMPLES, ROOT

PANTHEON = [sys.executable, "-m", "pantheon_engine"]
# the agent drops `draft` and stops: two of the document's three rules are still unmet
STOPS_EARLY = [
    {"key": "frontmatter", "text": json.dumps({"type": "tool", "name": "fm_delete",
                                               "args": {"key": "draft"}})},
    {"key": "frontmatter", "text": '{"type":"final","output":{"summary":"done"}}'},
]


def pantheon(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run([*PANTHEON, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def failed_docops_run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(json.dumps(line) + "\n" for line in STOPS_EARLY))
    return pantheon("run", "docops", "--input", str(EXAMPLES / "docops" / "input.json"),
                    "--replay", str(replies), *extra)


def test_a_failed_run_says_what_to_run_next(tmp_path: Path) -> None:
    art = tmp_path / "art"
    proc = failed_docops_run(tmp_path, "--artifacts", str(art))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    run_id = next(p.name for p in (art / "runs").iterdir())
    out = proc.stdout
    assert "failed at check (check_failed)" in out
    assert out.index("next:") > out.index("artifacts:")
    assert f"pantheon fix {run_id} --artifacts {art}" in out
    assert f"pantheon tui --screen report --artifacts {art}" in out


def test_off_a_terminal_only_the_node_lines_are_printed(tmp_path: Path) -> None:
    proc = failed_docops_run(tmp_path, "--artifacts", str(tmp_path / "art"))
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("docops: 5 nodes · night · engine replay")
    assert [line.rsplit(" · ", 1)[0] for line in lines[1:]] == [
        "  ✓ frontmatter · 2 steps · 0 tokens", "  ✗ check (check_failed)"]
    # no live line: no spinner, no carriage returns, no cursor codes
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    assert "step 1/" not in proc.stderr and "starting" not in proc.stderr


def test_json_prints_the_result_only(tmp_path: Path) -> None:
    proc = failed_docops_run(tmp_path, "--artifacts", str(tmp_path / "art"), "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["status"] == "failed"  # no hint after the JSON
    assert proc.stderr == ""


def test_the_next_steps_name_the_default_folder_only_when_it_is_not_the_default() -> None:
    assert next_steps("r-1", Path("artifacts"), fixable=False) == [
        "pantheon tui --screen report    # the failure, its error and its files"]
    fix, room = next_steps("r-1", Path("/x/art"), fixable=True)
    assert fix.startswith("pantheon fix r-1 --artifacts /x/art ")
    assert room.startswith("pantheon tui --screen report --artifacts /x/art ")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def recording() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100, color_system=None), out


def test_the_live_line_names_the_node_its_step_and_tokens() -> None:
    console, _ = recording()
    clock = Clock()
    progress = RunProgress(console, clock=clock)
    assert progress.live  # a terminal
    assert progress.line().plain == "starting · 0s"
    progress.on_event("node_started", {"node": "frontmatter", "agent": "doc.frontmatter@1",
                                       "max_steps": 8})
    assert progress.line().plain == "frontmatter · step 1/8 · 0s"
    clock.now += 4
    for step in (1, 2):
        progress.on_event("model_call", {"node": "frontmatter", "step": step, "attempt": 1,
                                         "prompt_tokens": 600, "completion_tokens": 17})
    assert progress.line().plain == "frontmatter · step 3/8 · 1,234 tokens · 4s"
    progress.on_event("node_attempt_failed", {"node": "frontmatter", "attempt": 1})
    assert progress.line().plain == "frontmatter · step 1/8 · attempt 2 · 1,234 tokens · 4s"
    # nodes that run side by side share the line
    progress.on_event("node_started", {"node": "reviewA", "agent": "review.peer@1",
                                       "max_steps": 4})
    assert progress.line().plain == ("frontmatter · step 1/8 · attempt 2 · 1,234 tokens · 4s"
                                     "  │  reviewA · step 1/4 · 0s")


def test_each_node_that_ends_gets_a_line_above_the_live_one() -> None:
    console, out = recording()
    clock = Clock()
    with RunProgress(console, clock=clock) as progress:
        progress.on_event("node_started", {"node": "frontmatter", "max_steps": 8})
        progress.on_event("model_call", {"node": "frontmatter", "step": 1,
                                         "prompt_tokens": 90, "completion_tokens": 10})
        clock.now += 2.5
        progress.on_event("node_finished", {"node": "frontmatter", "status": "ok"})
        assert progress.line().plain == "1 node done · 2s"
        progress.on_event("node_started", {"node": "check"})
        progress.on_event("node_finished", {"node": "check", "status": "failed",
                                            "kind": "check_failed"})
    text = out.getvalue()
    assert "✓ frontmatter · 1 step · 100 tokens · 2.5s" in text
    assert "✗ check (check_failed) · 0.0s" in text
    assert "⠋ 1 node done · 2s" in text  # the live line, drawn again under each node line


def test_off_a_terminal_there_is_no_live_line() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100)
    with RunProgress(console) as progress:
        assert not progress.live
        progress.on_event("node_started", {"node": "frontmatter", "max_steps": 8})
        progress.on_event("node_finished", {"node": "frontmatter", "status": "ok"})
    assert out.getvalue().startswith("  ✓ frontmatter · ")
    assert "step" not in out.getvalue()
