"""The command line as a user runs it: exit codes, messages, scaffolds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pantheon_engine.night.demo import DOCS, SPECS

from conftest import EXAMPLES, FLOWS, ROOT

PANTHEON = [sys.executable, "-m", "pantheon_engine"]


def pantheon(*args: str, cwd: Path = ROOT, env: dict | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
    import os

    full_env = {k: v for k, v in os.environ.items()}
    full_env.update(env or {})
    return subprocess.run([*PANTHEON, *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def test_flows_check_accepts_the_shipped_flows() -> None:
    proc = pantheon("flows", "check", *(str(p) for p in sorted(FLOWS.glob("*.yaml"))))
    assert proc.returncode == 0, proc.stderr
    assert "docops" in proc.stdout and "spec2code" in proc.stdout


def test_malformed_flow_exits_2_naming_file_and_node(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nnodes:\n  - id: a\n    agent: codegne\n    inputs: [input]\n"
                   "  - id: b\n    agent: review.peer\n    inputs: [c]\n")
    proc = pantheon("run", str(bad), "--input", str(EXAMPLES / "spec2code" / "input.json"))
    assert proc.returncode == 2
    assert "bad.yaml" in proc.stderr and "'a'" in proc.stderr and "codegen" in proc.stderr
    assert "'b'" in proc.stderr


def test_broken_input_json_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "in.json"
    broken.write_text('{"title": ')
    proc = pantheon("run", str(FLOWS / "docops.yaml"), "--input", str(broken))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr


def test_input_that_does_not_fit_the_entry_agent_exits_2(tmp_path: Path) -> None:
    wrong = tmp_path / "in.json"
    wrong.write_text(json.dumps({"title": "x"}))
    proc = pantheon("run", str(FLOWS / "spec2code.yaml"), "--input", str(wrong),
                    "--workspace", str(tmp_path))
    assert proc.returncode == 2
    assert "plan.validate" in proc.stderr and "acceptance" in proc.stderr


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY"])
def test_night_refuses_cloud_credentials_before_anything(name: str, tmp_path: Path) -> None:
    proc = pantheon("run", str(FLOWS / "docops.yaml"), "--input",
                    str(EXAMPLES / "docops" / "input.json"), "--artifacts", str(tmp_path),
                    env={name: "sk-test"})
    assert proc.returncode == 3
    assert name in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_night_refuses_a_remote_endpoint(tmp_path: Path) -> None:
    proc = pantheon("run", str(FLOWS / "docops.yaml"), "--input",
                    str(EXAMPLES / "docops" / "input.json"), "--engine", "openai",
                    "--base-url", "http://10.1.2.3:8000/v1", "--artifacts", str(tmp_path))
    assert proc.returncode == 3 and "10.1.2.3" in proc.stderr


def test_tool_call_by_hand() -> None:
    ws = EXAMPLES / "docops" / "workspace"
    proc = pantheon("tool", "call", "fm_read", "--workspace", str(ws), "--args",
                    '{"path": "docs/guide.md"}')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    escape = pantheon("tool", "call", "read_file", "--workspace", str(ws), "--args",
                      '{"path": "../../../pyproject.toml"}')
    assert escape.returncode != 0
    error = json.loads(escape.stdout)
    assert error["ok"] is False and "outside" in error["error"]["message"]


def test_replay_run_from_a_replies_file(tmp_path: Path) -> None:
    replies = tmp_path / "replies.jsonl"
    lines = [
        {"key": "frontmatter", "text": json.dumps({"type": "tool", "name": "fm_rename", "args": {
            "path": "docs/guide.md", "key": "Title", "new_key": "title"}})},
        {"key": "frontmatter", "text": json.dumps({"type": "tool", "name": "fm_delete", "args": {
            "path": "docs/guide.md", "key": "draft"}})},
        {"key": "frontmatter", "text": json.dumps({"type": "tool", "name": "fm_set", "args": {
            "path": "docs/guide.md", "key": "status", "value": "published"}})},
        {"key": "frontmatter", "text": '{"type":"final","output":{"summary":"done"}}'},
        {"text": '{"type":"final","output":{"verdict":"pass","rationale":"keys fixed"}}'},
        {"text": '{"type":"final","output":{"verdict":"pass","rationale":"body intact"}}'},
    ]
    replies.write_text("".join(json.dumps(line) + "\n" for line in lines))
    art = tmp_path / "art"
    proc = pantheon("run", str(FLOWS / "docops.yaml"), "--input",
                    str(EXAMPLES / "docops" / "input.json"), "--replay", str(replies),
                    "--artifacts", str(art))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "branch" in proc.stdout and "pantheon/" in proc.stdout
    # the example folder itself is never modified
    assert "Title: Getting started" in (EXAMPLES / "docops" / "workspace" / "docs" /
                                        "guide.md").read_text()


def test_init_agent_and_flow_run_as_generated(tmp_path: Path) -> None:
    proc = pantheon("init", "flow", "notes.summary", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "agents" / "notes_summary.py").exists()
    assert (tmp_path / "flows" / "notes.summary.yaml").exists()
    check = pantheon("flows", "check", "flows/notes.summary.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    replies = tmp_path / "r.jsonl"
    replies.write_text(
        json.dumps({"text": '{"type":"tool","name":"list_dir","args":{"path":"."}}'}) + "\n"
        + json.dumps({"text": '{"type":"final","output":{"summary":"a tiny project"}}'}) + "\n")
    (tmp_path / "README.md").write_text("hello\n")
    run = pantheon("run", "flows/notes.summary.yaml", "--input",
                   "examples/notes.summary/input.json", "--replay", str(replies), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    again = pantheon("init", "agent", "notes.summary", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr


def test_init_refuses_a_builtin_agent_name(tmp_path: Path) -> None:
    proc = pantheon("init", "agent", "doc.frontmatter", cwd=tmp_path)
    assert proc.returncode == 2
    assert "'doc.frontmatter' is a built-in agent" in proc.stderr
    assert not (tmp_path / "agents").exists()  # nothing written
    forced = pantheon("init", "agent", "doc.frontmatter", "--force", cwd=tmp_path)
    assert forced.returncode == 2 and not (tmp_path / "agents").exists()
    assert pantheon("agents", "list", cwd=tmp_path).returncode == 0


def test_two_agents_of_one_name_name_both_definitions(tmp_path: Path) -> None:
    assert pantheon("init", "agent", "my.frontmatter", cwd=tmp_path).returncode == 0
    mine = tmp_path / "agents" / "my_frontmatter.py"
    mine.write_text(mine.read_text().replace('name="my.frontmatter"', 'name="doc.frontmatter"'))
    for args in (("agents", "list"), ("flows", "check", "docops")):
        proc = pantheon(*args, cwd=tmp_path)
        assert proc.returncode == 2, args
        assert "two agents are named 'doc.frontmatter': built-in and " \
            f"{mine.resolve()}" in proc.stderr
    copy = tmp_path / "agents" / "copy.py"
    copy.write_text(mine.read_text())
    mine.write_text(mine.read_text().replace('name="doc.frontmatter"', 'name="my.x"'))
    copy.write_text(copy.read_text().replace('name="doc.frontmatter"', 'name="my.x"'))
    proc = pantheon("agents", "list", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"two agents are named 'my.x': {copy.resolve()} and {mine.resolve()}" in proc.stderr


def test_capacity_prints_erlang_c_and_the_smallest_c() -> None:
    proc = pantheon("capacity", "--arrival-rate", "120", "--service-rate", "10", "--servers",
                    "16", "--hours", "8", "--specialist", "10:0.9", "--specialist", "5:0.5",
                    "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["utilisation"] == pytest.approx(0.75)
    assert report["smallest_servers"] == 15
    assert 0 < report["p_wait"] < 1
    assert report["expected_accepted"] == pytest.approx(74.8)
    bad = pantheon("capacity", "--arrival-rate", "1", "--service-rate", "0", "--servers", "2")
    assert bad.returncode == 2 and "service_rate" in bad.stderr


def test_queue_add_validates_and_lists(tmp_path: Path) -> None:
    art = tmp_path / "art"
    ok = pantheon("queue", "add", str(FLOWS / "docops.yaml"), "--input",
                  str(EXAMPLES / "docops" / "input.json"), "--artifacts", str(art))
    assert ok.returncode == 0, ok.stderr
    many = tmp_path / "tasks.jsonl"
    many.write_text('{"path": "docs/faq.md", "rename": {"Status": "status"}}\n'
                    '{"path": "docs/guide.md", "delete": ["draft"]}\n')
    # inputs that name no workspace work on the current folder
    assert pantheon("queue", "add", str(FLOWS / "docops.yaml"), "--input", str(many),
                    "--priority", "5", "--artifacts", str(art),
                    cwd=EXAMPLES / "docops" / "workspace").returncode == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "docs/faq.md"}\n{"path": 3}\n')
    refused = pantheon("queue", "add", str(FLOWS / "docops.yaml"), "--input", str(bad),
                       "--artifacts", str(art))
    assert refused.returncode == 2 and "doc.frontmatter" in refused.stderr
    listing = pantheon("queue", "list", "--artifacts", str(art))
    assert listing.returncode == 0
    assert "queued 3" in listing.stdout  # the refused file added nothing


def docops_input(folder: Path, path: str, workspace: str | None = "ws") -> Path:
    """An input file in ``folder`` whose ``path`` is ``path`` (workspace ``folder/ws``)."""
    ws = folder / "ws"
    (ws / "docs").mkdir(parents=True, exist_ok=True)
    (ws / "docs" / "guide.md").write_text("---\nTitle: Guide\n---\n# Guide\n")
    data = {"path": path, "rules": [{"kind": "lowercase_keys"}]}
    if workspace is not None:
        data["workspace"] = workspace
    target = folder / f"in-{len(list(folder.glob('in-*.json')))}.json"
    target.write_text(json.dumps(data))
    return target


@pytest.mark.parametrize(("path", "refusal"), [
    ("../../etc/passwd.md", "'..' leads outside the workspace"),
    ("docs/nope.md", "does not exist in the workspace"),
    ("docs", "is not a file in the workspace"),
])
def test_queue_add_and_run_refuse_a_path_the_workspace_does_not_hold(
        tmp_path: Path, path: str, refusal: str) -> None:
    source = docops_input(tmp_path, path)
    ws = (tmp_path / "ws").resolve()
    art = tmp_path / "art"
    for args in (("queue", "add", "docops"), ("run", "docops")):
        proc = pantheon(*args, "--input", str(source), "--artifacts", str(art), cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout + proc.stderr)
        assert f"{source}: path: {path!r}" in proc.stderr  # the user's file and path
        assert refusal in proc.stderr and str(ws) in proc.stderr  # the user's workspace
        assert "worktree" not in proc.stderr
    assert not art.exists()  # nothing queued, no run started


def test_queue_add_without_a_workspace_checks_the_current_folder(tmp_path: Path) -> None:
    source = docops_input(tmp_path, "docs/guide.md", workspace=None)
    art = tmp_path / "art"
    refused = pantheon("queue", "add", "docops", "--input", str(source), "--artifacts",
                       str(art), cwd=tmp_path)
    assert refused.returncode == 2
    assert f"does not exist in the workspace {tmp_path.resolve()}" in refused.stderr
    ok = pantheon("queue", "add", "docops", "--input", str(source), "--artifacts", str(art),
                  cwd=tmp_path / "ws")
    assert ok.returncode == 0, ok.stderr
    from pantheon_engine.night.jobqueue import JobQueue
    with JobQueue.for_artifacts(art) as queue:
        [job] = queue.list()
    assert job.input["workspace"] == str((tmp_path / "ws").resolve())


def test_reading_commands_create_nothing_and_name_what_is_missing(tmp_path: Path) -> None:
    for args in (("report",), ("queue", "list"), ("report", "--format", "json")):
        proc = pantheon(*args, "--artifacts", "TYPO", cwd=tmp_path)
        assert proc.returncode == 2, args
        assert "no artifacts folder TYPO" in proc.stderr and "pantheon demo" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no folder, no queue.sqlite
    (tmp_path / "artifacts").mkdir()
    typo = pantheon("report", "--artifacts", "artifact", cwd=tmp_path)
    assert typo.returncode == 2 and "did you mean --artifacts artifacts" in typo.stderr
    listing = pantheon("queue", "list", cwd=tmp_path)
    assert listing.returncode == 0 and "queued 0" in listing.stdout
    assert "no queue yet" in listing.stderr
    assert list((tmp_path / "artifacts").iterdir()) == []
    none_yet = pantheon("report", "--night", "NOSUCH", cwd=tmp_path)
    assert none_yet.returncode == 2 and "no night has run" in none_yet.stderr
    for night in ("20250101-a", "20250102-b"):
        (tmp_path / "artifacts" / "nights" / night).mkdir(parents=True)
    unknown = pantheon("report", "--night", "NOSUCH", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no such night" in unknown.stderr
    assert "20250101-a" in unknown.stderr and "20250102-b" in unknown.stderr
    known = pantheon("report", "--night", "20250102-b", "--format", "json", cwd=tmp_path)
    assert known.returncode == 0, known.stderr
    assert json.loads(known.stdout)["totals"]["runs"] == 0


@pytest.mark.model
def test_demo_then_night_on_the_embedded_model(tmp_path: Path) -> None:
    """The README's main job, in a temporary folder."""
    made = pantheon("demo", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    # a whole night of the real model: about 150 s alone on two cores, longer on a busy one
    night = pantheon("night", "--sample-s", "1", cwd=tmp_path, timeout=1200)
    assert night.returncode == 0, night.stdout + night.stderr
    assert "report:" in night.stdout
    nights = list((tmp_path / "artifacts" / "nights").iterdir())
    assert len(nights) == 1
    folder = nights[0]
    for name in ("metrics.jsonl", "night.json", "summary.json", "report.md", "report.html"):
        assert (folder / name).exists(), name
    summary = json.loads((folder / "summary.json").read_text())
    jobs = len(DOCS) + len(SPECS)
    assert summary["totals"]["runs"] == jobs
    lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["done"] + lines[-1]["failed"] == jobs and lines[-1]["queue_depth"] == 0
    listing = pantheon("queue", "list", cwd=tmp_path)
    assert "queued 0" in listing.stdout and "running 0" in listing.stdout


def test_night_preflight_refuses_an_unreachable_server_and_claims_nothing(tmp_path: Path) -> None:
    art = tmp_path / "art"
    assert pantheon("queue", "add", str(FLOWS / "docops.yaml"), "--input",
                    str(EXAMPLES / "docops" / "input.json"), "--artifacts",
                    str(art)).returncode == 0
    proc = pantheon("night", "--engine", "openai", "--base-url", "http://127.0.0.1:9/v1",
                    "--artifacts", str(art))
    assert proc.returncode != 0 and "127.0.0.1:9" in proc.stderr
    listing = pantheon("queue", "list", "--artifacts", str(art))
    assert "queued 1" in listing.stdout and "running 0" in listing.stdout


def test_run_without_a_flow_drains_the_queue(tmp_path: Path) -> None:
    art = tmp_path / "art"
    assert pantheon("queue", "add", str(FLOWS / "docops.yaml"), "--input",
                    str(EXAMPLES / "docops" / "input.json"), "--artifacts",
                    str(art)).returncode == 0
    replies = tmp_path / "r.jsonl"
    calls = [("fm_rename", {"key": "Title", "new_key": "title"}), ("fm_delete", {"key": "draft"}),
             ("fm_set", {"key": "status", "value": "published"})]
    lines = [{"key": "frontmatter", "text": json.dumps({"type": "tool", "name": n, "args": a})}
             for n, a in calls]
    lines.append({"key": "frontmatter", "text": '{"type":"final","output":{"summary":"ok"}}'})
    lines += [{"key": k, "text": '{"type":"final","output":{"verdict":"pass","rationale":"ok"}}'}
              for k in ("reviewA", "reviewB")]
    replies.write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = pantheon("run", "--night", "--replay", str(replies), "--artifacts", str(art))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 done, 0 failed" in proc.stdout
