"""``pantheon demo`` and the built-in flows, from any folder: a repository with work for a
night, every job valid for its flow, every document solvable with the agent's tools."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.rules import load_rules_file, parse_rules, rules_json
from pantheon_engine.docops.solver import solve
from pantheon_engine.errors import ConfigError
from pantheon_engine.night.demo import (
    DOCS,
    DOCS_GLOB,
    RULES_YAML,
    SPECS,
    create_demo,
    doc_name,
    doc_text,
)
from pantheon_engine.night.jobqueue import JobQueue
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked
from pantheon_engine.run.orchestrator import Orchestrator
from pantheon_engine.tools.registry import call_tool

from conftest import FLOWS, git_repo


def pantheon(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_demo_creates_a_repo_and_queues_valid_jobs(tmp_path: Path) -> None:
    made = create_demo(tmp_path / "demo", tmp_path / "art")
    repo = Path(made.workspace)
    log = subprocess.run(["git", "log", "--oneline"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    assert len(log.splitlines()) == 1
    assert not subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout  # everything is committed
    registry = default_registry()
    checker = Orchestrator(registry=registry, engine=None, policy=Policy(mode="day"),
                           artifacts_root=tmp_path / "art")
    with JobQueue.for_artifacts(tmp_path / "art") as queue:
        jobs = queue.list()
    assert len(jobs) == made.queued == made.depth == len(DOCS) + len(SPECS)
    for job in jobs:
        flow = load_flow_checked(Path(job.flow), registry)
        checker.validate_input(flow, job.input)
        assert Path(job.flow).parent == FLOWS and job.input["workspace"] == str(repo)
    docops = [j for j in jobs if j.flow_name == "docops"]
    want_rules = rules_json(load_rules_file(Path(made.rules)))
    assert [j.input["path"] for j in docops] == sorted(
        p.relative_to(repo).as_posix() for p in repo.glob(DOCS_GLOB))
    assert all(j.input["rules"] == want_rules and j.group_key == "doc.frontmatter"
               for j in docops)
    specs = [j for j in jobs if j.flow_name == "spec2code"]
    assert [j.input["title"] for j in specs] == [s["title"] for s in SPECS]
    assert all(j.group_key == "plan.validate" for j in specs)
    with pytest.raises(ConfigError, match="--force"):
        create_demo(tmp_path / "demo", tmp_path / "art")
    again = create_demo(tmp_path / "demo", tmp_path / "art", force=True)
    assert again.replaced == made.queued
    assert again.depth == again.queued == made.queued  # the old demo's jobs were replaced


def test_demo_force_leaves_exactly_the_demos_jobs_queued(tmp_path: Path) -> None:
    first = pantheon("demo", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    depth = len(DOCS) + len(SPECS)
    for _ in range(2):
        again = pantheon("demo", "--force", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert f"removed {depth} job(s)" in again.stdout
        assert f"(queue depth {depth})" in again.stdout
    with JobQueue.for_artifacts(tmp_path / "artifacts") as queue:
        assert queue.depth() == depth
        workspaces = {job.input["workspace"] for job in queue.list()}
    assert workspaces == {str((tmp_path / "pantheon-demo").resolve())}
    # a demo elsewhere keeps this one's jobs; --force there replaces only its own
    other = pantheon("demo", "--folder", "other", cwd=tmp_path)
    assert other.returncode == 0 and f"(queue depth {2 * depth})" in other.stdout
    other = pantheon("demo", "--force", "--folder", "other", cwd=tmp_path)
    assert other.returncode == 0 and f"(queue depth {2 * depth})" in other.stdout


def test_every_demo_document_is_solvable_with_the_agents_tools(tmp_path: Path) -> None:
    """The scripted solver's fm_* calls, run through the real tools, pass the rules check;
    most documents need work first, a few already comply (leaving them alone is the task)."""
    rules = parse_rules(yaml.safe_load(RULES_YAML))
    (tmp_path / "docs").mkdir()
    needed_work = 0
    for index, (title, body, meta) in enumerate(DOCS):
        name = doc_name(index, title)
        before = doc_text(title, body, meta)
        (tmp_path / name).write_text(before, encoding="utf-8")
        for tool, args in solve(before, rules):
            asyncio.run(call_tool(tool, tmp_path, {"path": name, **args}))
        after = (tmp_path / name).read_text(encoding="utf-8")
        report = check_document(after, rules, before)
        assert report.passed, (name, report.failed_labels, report.broken)
        needed_work += not check_document(before, rules, before).passed
    assert len(DOCS) - 4 <= needed_work < len(DOCS)


def test_demo_command_works_in_an_empty_folder(tmp_path: Path) -> None:
    made = pantheon("demo", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert f"queued {len(DOCS)} docops and {len(SPECS)} spec2code jobs" in made.stdout
    assert (tmp_path / "pantheon-demo" / "rules.yaml").is_file()
    with JobQueue.for_artifacts(tmp_path / "artifacts") as queue:
        assert queue.depth() == len(DOCS) + len(SPECS)
    refused = pantheon("demo", cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr
    moved = pantheon("demo", "--force", "--folder", "elsewhere", "--artifacts", "art2",
                     cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert (tmp_path / "elsewhere" / "docs").is_dir()
    # the demo's own hint: the same fan-out again, by hand
    again = pantheon("queue", "add", "docops", "--rules", "rules.yaml", "--each", DOCS_GLOB,
                     "--artifacts", str(tmp_path / "art2"), cwd=tmp_path / "elsewhere")
    assert again.returncode == 0, again.stderr
    assert f"queue depth {2 * len(DOCS) + len(SPECS)}" in again.stdout


def test_flows_check_takes_builtin_names_anywhere(tmp_path: Path) -> None:
    proc = pantheon("flows", "check", "docops", "spec2code.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "docops (5 nodes)" in proc.stdout and "spec2code (6 nodes)" in proc.stdout
    typo = pantheon("flows", "check", "docpos", cwd=tmp_path)
    assert typo.returncode == 2 and "docpos" in typo.stderr and "docops, spec2code" in typo.stderr


def test_run_docops_by_name_uses_the_packaged_flow(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "docs").mkdir(parents=True)
    before = "---\nTitle: Guide\ndraft: true\n---\n# Guide\n\nRead me.\n"
    (ws / "docs" / "guide.md").write_text(before)
    git_repo(ws)
    rules = [{"kind": "lowercase_keys"}, {"kind": "absent", "key": "draft"},
             {"kind": "equals", "key": "status", "value": "published"}]
    (tmp_path / "task.json").write_text(json.dumps({"path": "docs/guide.md", "rules": rules}))
    calls = solve(before, parse_rules(rules))
    lines = [{"key": "frontmatter", "text": json.dumps({"type": "tool", "name": name,
                                                        "args": {"path": "docs/guide.md", **a}})}
             for name, a in calls]
    lines.append({"key": "frontmatter", "text": '{"type":"final","output":{"summary":"ok"}}'})
    lines += [{"key": k, "text": '{"type":"final","output":{"verdict":"pass","rationale":"ok"}}'}
              for k in ("reviewA", "reviewB")]
    (tmp_path / "replies.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = pantheon("run", "docops", "--input", "task.json", "--workspace", "ws", "--day",
                    "--replay", "replies.jsonl", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    run = json.loads((tmp_path / "artifacts" / "runs" / result["run_id"] / "run.json")
                     .read_text())
    assert Path(run["flow_file"]) == FLOWS / "docops.yaml"
    assert run["check"]["passed"] is True
    missing = pantheon("run", "flows/docops.yaml", "--input", "task.json", cwd=tmp_path)
    assert missing.returncode == 2 and "built-in flows: docops, spec2code" in missing.stderr



#: one way to meet each demo spec, to prove its tests can pass (the night's model writes its own)
_MEETS_SPEC = {
    "tests/test_shout.py": "def shout(text):\n    return text.upper() + '!'\n",
    "tests/test_vowels.py": "def count_vowels(text):\n"
                            "    return sum(c in 'aeiou' for c in text.lower())\n",
    "tests/test_slugify.py": "def slugify(title):\n    return '-'.join(title.lower().split())\n",
    "tests/test_palindrome.py": "def is_palindrome(text):\n"
                                "    return text.lower() == text.lower()[::-1]\n",
    "tests/test_initials.py": "def initials(name):\n"
                              "    return ''.join(w[0].upper() for w in name.split())\n",
}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["tests"])
def test_each_demo_spec_has_tests_that_fail_until_the_function_is_written(
        tmp_path: Path, spec: dict) -> None:
    """Tests come first: the spec's own test file fails on the demo as created, passes once
    the spec is met, and fails for a change that ignores the spec or drops count_words."""
    repo = Path(create_demo(tmp_path / "demo", tmp_path / "art").workspace)

    def tests_pass() -> bool:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               spec["tests"]], cwd=repo, capture_output=True).returncode == 0

    words = repo / spec["files"][0]
    original = words.read_text()
    assert not tests_pass()
    words.write_text(original + "\n\n" + _MEETS_SPEC[spec["tests"]])
    assert tests_pass()
    name = _MEETS_SPEC[spec["tests"]].split("(")[0].removeprefix("def ")
    words.write_text(original + f"\n\ndef {name}(*args):\n    return None\n")
    assert not tests_pass()
    # the new function alone, count_words dropped: the spec says keep it, and so do its tests
    words.write_text(_MEETS_SPEC[spec["tests"]])
    assert not tests_pass()
