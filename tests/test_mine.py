"""Mining the trace store: green runs only, exact prompts, no holdout task, no secret.

The runs are real eval and flow runs on the replay engine with the trace store wired in,
so what is mined is what the tool loop actually sent. The suite plants the dangers: a
holdout task, documents carrying an AWS key id, a password and a private key block, and
samples that fail their check.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.runner import agent_flow, run_eval
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.loop.traces import TraceStore
from pantheon_engine.policy import Policy
from pantheon_engine.run.orchestrator import Orchestrator
from pantheon_engine.specialize.demos import demonstrate
from pantheon_engine.specialize.mine import (
    Example,
    HoldoutGuard,
    make_example,
    mine,
    read_examples,
    write_examples,
)
from pantheon_engine.specialize.secrets import find_secrets

from conftest import git_repo

AGENT = "doc.frontmatter"
DOC = "---\nTitle: {name}\ndraft: true\nauthor: ops\n{extra}---\n# {name}\n\n{body}\n"
RENAME_AND_DROP = [{"kind": "renamed", "key": "Title", "to": "title"},
                   {"kind": "absent", "key": "draft"}]
DROP_AND_PUBLISH = [{"kind": "absent", "key": "draft"},
                    {"kind": "equals", "key": "status", "value": "published"}]
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
#: id, split, path, rules, extra front matter, body
TASKS = [
    ("tr1", "train", "docs/train/a.md", RENAME_AND_DROP, "", "Some text."),
    ("tr2", "train", "docs/train/b.md", DROP_AND_PUBLISH, "", "Other text."),
    ("tr3", "train", "docs/train/keys.md", RENAME_AND_DROP, "",
     f"Deploy with {AWS_KEY} until the rotation."),
    ("tr4", "train", "docs/train/login.md", RENAME_AND_DROP, "password: hunter2hunter2\n",
     "How to log in."),
    ("tr5", "train", "docs/train/tls.md", RENAME_AND_DROP, "",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"),
    ("ho1", "holdout", "docs/holdout/c.md", RENAME_AND_DROP, "", "Held out text."),
]


def tool(name: str, **args: str) -> str:
    return json.dumps({"type": "tool", "name": name, "args": args})


FINAL = json.dumps({"type": "final", "output": {"summary": "done"}})
GOOD_RENAME = [tool("fm_rename", key="Title", new_key="title"), tool("fm_delete", key="draft"),
               FINAL]
GOOD_PUBLISH = [tool("fm_delete", key="draft"), tool("fm_set", key="status", value="published"),
                FINAL]
BREAKS_A_KEY = [tool("fm_delete", key="draft"), tool("fm_delete", key="author"), FINAL]


def write_suite(folder: Path, tasks: list[tuple] = TASKS) -> Path:
    workspace = folder / "workspace"
    for _, _, path, _, extra, body in tasks:
        target = workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        name = Path(path).stem.upper()
        target.write_text(DOC.format(name=name, extra=extra, body=body), encoding="utf-8")
    git_repo(workspace)
    lines = [json.dumps({"id": tid, "agent": AGENT, "split": split,
                         "input": {"path": path, "rules": rules}})
             for tid, split, path, rules, _, _ in tasks]
    (folder / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def replies(*samples: list[str]) -> list[RecordedReply]:
    return [RecordedReply(key="frontmatter", text=text) for sample in samples
            for text in sample]


async def record_runs(suite_dir: Path, art: Path) -> None:
    """Train evals (2 samples), a holdout eval, and a flow run of the holdout document."""
    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    with TraceStore.for_artifacts(art) as store:
        train = replies(GOOD_RENAME, GOOD_RENAME,              # tr1: green twice, same steps
                        BREAKS_A_KEY, ["not json", *GOOD_PUBLISH],  # tr2: red, then green
                        GOOD_RENAME, [FINAL],                  # tr3: green (AWS key in body)
                        GOOD_RENAME, [FINAL],                  # tr4: green (password)
                        GOOD_RENAME, [FINAL])                  # tr5: green (private key)
        await run_eval(suite, agent=AGENT, split="train", engine=ReplayEngine(train),
                       registry=registry, artifacts=art, samples=2, temperature=0.8,
                       concurrency=1, traces=store)
        await run_eval(suite, agent=AGENT, split="holdout",
                       engine=ReplayEngine(replies(GOOD_RENAME)), registry=registry,
                       artifacts=art, concurrency=1, traces=store)
        # the holdout document worked on by an ordinary run: no task id says what it is
        spec = registry.get(AGENT)
        orchestrator = Orchestrator(registry=registry, engine=ReplayEngine(replies(GOOD_RENAME)),
                                    policy=Policy(mode="night"), artifacts_root=art,
                                    traces=store)
        holdout = next(t for t in suite.tasks if t.id == "ho1")
        result = await orchestrator.run(agent_flow(spec, registry),
                                        {**holdout.input, "workspace": str(suite.workspace)},
                                        suite.workspace)
        assert result.check is not None and result.check["passed"] is True


@pytest.fixture(scope="module")
def mined_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The recorded runs, made once for this module (mining only reads them)."""
    root = tmp_path_factory.mktemp("mined")
    suite_dir = write_suite(root / "suite")
    art = root / "art"
    asyncio.run(record_runs(suite_dir, art))
    return suite_dir, art


def holdout_guard(suite_dir: Path) -> HoldoutGuard:
    return HoldoutGuard.from_suite(load_suite(suite_dir, default_registry()), "train")


async def test_only_green_runs_are_mined_deduplicated_and_clean(
        mined_setup: tuple[Path, Path]) -> None:
    suite_dir, art = mined_setup
    spec = default_registry().get(AGENT)
    result, examples = await mine(art, spec, guard=holdout_guard(suite_dir))

    # 10 train samples + 1 holdout eval sample + 1 flow run; green: tr1 ×2, tr2 s1, tr3 s0,
    # tr4 s0, tr5 s0, the holdout eval sample and the flow run
    assert (result.runs_seen, result.runs_green) == (12, 8)
    assert [(e.meta.task_id, e.meta.step, e.meta.kind) for e in examples] == [
        ("tr1", 1, "tool"), ("tr1", 2, "tool"), ("tr1", 3, "final"),
        ("tr2", 2, "tool"), ("tr2", 3, "tool"), ("tr2", 4, "final")]
    assert [e.reply for e in examples] == [*GOOD_RENAME, *GOOD_PUBLISH]  # raw replies
    counts = result.counts
    assert counts.by_kind == {"tool": 4, "final": 2} and counts.by_source == {"trace": 6}
    assert counts.dropped == {
        "duplicate": 3,          # tr1's second green sample repeats the first exactly
        "failed_reply": 1,       # tr2's unparseable first reply
        "holdout_path": 3,       # the flow run of the holdout document
        "holdout_run": 1,        # the holdout eval's run
        "secret": 9,             # tr3, tr4, tr5: every step shows the secret
    }
    assert counts.secrets == {"assignment": 3, "aws_access_key": 3, "private_key": 3}
    everything = json.dumps([e.model_dump() for e in examples])
    for planted in (AWS_KEY, "hunter2hunter2", "PRIVATE KEY", "docs/holdout/"):
        assert planted not in everything


async def test_no_holdout_task_leaks_by_id_or_by_document(
        mined_setup: tuple[Path, Path]) -> None:
    suite_dir, art = mined_setup
    suite = load_suite(suite_dir, default_registry())
    holdout_ids = {t.id for t in suite.tasks if t.split == "holdout"}
    holdout_paths = {t.input["path"] for t in suite.tasks if t.split == "holdout"}
    spec = default_registry().get(AGENT)

    _, guarded = await mine(art, spec, guard=holdout_guard(suite_dir))
    assert guarded
    for example in guarded:
        assert example.meta.task_id not in holdout_ids
        assert not any(path in text for path in holdout_paths for text in example.texts())

    # without the suite the eval's own record still keeps its holdout run out, but nothing
    # tells an ordinary run of a holdout document apart: that is what --suite is for
    result, unguarded = await mine(art, spec)
    assert not any(e.meta.task_id in holdout_ids for e in unguarded)
    assert result.counts.dropped["holdout_run"] == 1
    leaked = [e for e in unguarded if any("docs/holdout/c.md" in t for t in e.texts())]
    assert len(leaked) == 3 and all(e.meta.task_id is None for e in leaked)


async def test_an_example_is_exactly_what_the_loop_sent(
        mined_setup: tuple[Path, Path], tmp_path: Path) -> None:
    suite_dir, art = mined_setup
    registry = default_registry()
    spec = registry.get(AGENT)
    _, examples = await mine(art, spec, guard=holdout_guard(suite_dir))
    mined = [e for e in examples if e.meta.task_id == "tr1"]

    # the same edits through the demonstrator's own run of the loop give the same prompts
    suite = load_suite(suite_dir, registry)
    task = next(t for t in suite.tasks if t.id == "tr1")
    demo = await demonstrate(spec, task, suite.workspace, tmp_path / "demo", run_id="demo")
    assert demo.status == "passed"
    assert [[m.model_dump() for m in e.messages[:-1]] for e in mined] == \
        [[m.model_dump() for m in s.request.messages] for s in demo.steps]
    first = mined[0].messages
    assert [m.role for m in first] == ["system", "user", "assistant"]
    assert "FILE docs/train/a.md" in first[1].content and "Title: " in first[1].content
    assert "EDITS SO FAR: fm_rename" in mined[1].messages[1].content


async def test_the_jsonl_has_the_trl_shape_and_reads_back(
        mined_setup: tuple[Path, Path], tmp_path: Path) -> None:
    suite_dir, art = mined_setup
    spec = default_registry().get(AGENT)
    _, examples = await mine(art, spec, guard=holdout_guard(suite_dir))
    out = tmp_path / "data.jsonl"
    assert write_examples(out, examples) == len(examples)

    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(examples)
    for line in lines:
        assert set(line) == {"messages", "tools", "meta"}
        assert set(line["meta"]) == {"source", "agent", "run_id", "task_id", "step", "kind",
                                     "model"}
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str)
                   for m in line["messages"])
        assert line["messages"][-1]["role"] == "assistant"
        assert line["tools"] == lines[0]["tools"]  # one schema for every row
    names = [t["function"]["name"] for t in lines[0]["tools"]]
    assert names == ["fm_set", "fm_delete", "fm_rename"]
    for definition in lines[0]["tools"]:
        assert definition["type"] == "function"
        params = definition["function"]["parameters"]
        assert params["type"] == "object" and "path" not in params["properties"]  # bound
    assert read_examples(out) == examples


async def test_included_harvest_files_merge_and_deduplicate(
        mined_setup: tuple[Path, Path], tmp_path: Path) -> None:
    suite_dir, art = mined_setup
    spec = default_registry().get(AGENT)
    _, traced = await mine(art, spec, guard=holdout_guard(suite_dir))
    first = traced[0]
    harvested = make_example(first.messages[:-1], tool("fm_delete", key="draft"),
                             tools=first.tools, source="search", agent=spec.ref, kind="tool",
                             task_id="tr1", step=1)
    leaked = make_example([{"role": "system", "content": "s"},
                           {"role": "user", "content": "FILE docs/holdout/c.md"}],
                          FINAL, tools=[], source="demo", agent=spec.ref, kind="final")
    path = tmp_path / "harvest.jsonl"
    write_examples(path, [harvested, first.model_copy(deep=True), leaked])

    result, merged = await mine(art, spec, guard=holdout_guard(suite_dir), include=[path])
    assert len(merged) == len(traced) + 1 and merged[-1] == harvested
    assert result.counts.by_source == {"trace": 6, "search": 1}
    assert result.counts.dropped["duplicate"] == 3 + 1
    assert result.counts.dropped["holdout_path"] == 3 + 1


def test_traces_mine_command_writes_the_dataset_and_counts(
        mined_setup: tuple[Path, Path], tmp_path: Path) -> None:
    from pantheon_engine.cli.main import app

    suite_dir, art = mined_setup
    out = tmp_path / "data" / "doc.frontmatter.jsonl"
    result = CliRunner().invoke(app, ["traces", "mine", AGENT, "--out", str(out),
                                      "--artifacts", str(art), "--suite", str(suite_dir)])
    assert result.exit_code == 0, result.output
    assert "examples: 6 (by kind: tool 4, final 2; by source: trace 6)" in result.output
    assert "secret 9" in result.output and "holdout_path 3" in result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 6

    refused = CliRunner().invoke(app, ["traces", "mine", AGENT, "--out", str(out),
                                       "--artifacts", str(art), "--split", "holdout"])
    assert refused.exit_code == 2 and "only the train split" in refused.output
    missing = CliRunner().invoke(app, ["traces", "mine", AGENT, "--out", str(out),
                                       "--artifacts", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no trace store" in missing.output


def test_a_malformed_example_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"messages": [{"role": "user", "content": "u"},
                         {"role": "assistant", "content": FINAL}],
            "meta": {"source": "demo", "agent": "doc.frontmatter@1", "kind": "final"}}
    no_reply = {"messages": [{"role": "user", "content": "u"}],
                "meta": {"source": "demo", "agent": "a", "kind": "final"}}
    path.write_text(json.dumps(good) + "\n" + json.dumps(no_reply) + "\n")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2: not an example"):
        read_examples(path)
    wrong_kind = {**good, "meta": {**good["meta"], "kind": "tool"}}
    path.write_text(json.dumps(wrong_kind) + "\n")
    with pytest.raises(ConfigError, match=r"meta\.kind is 'tool' but the reply is a final"):
        read_examples(path)
    path.write_text(json.dumps({"messages": good["messages"]}) + "\n")
    imported = read_examples(path, source="import", agent="doc.frontmatter@1")
    assert [(e.meta.source, e.meta.kind, e.meta.agent) for e in imported] == \
        [("import", "final", "doc.frontmatter@1")]
    assert isinstance(imported[0], Example)


# --- the secret scanner -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "label"), [
    ("key AKIAIOSFODNN7EXAMPLE here", "aws_access_key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "private_key"),
    ("token ghp_" + "a1B2c3D4e5" * 4, "github_token"),
    ("use sk-proj-" + "Ab3dEf6hIj9kLm2nOp5q", "sk_key"),
    ("xoxb-123456789012-abcdefghij", "slack_token"),
    ("AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key"),
    ("hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345", "hf_token"),
    ('{"password":"correct-horse"}', "assignment"),
    ("db_password = s3cr3tvalue", "assignment"),
    ("OPENAI_API_KEY=abcdef123456", "credential_name"),
    ("MY_SERVICE_TOKEN: abcdef123456", "credential_name"),
    ("blob Zx9Qv2Lm8Tr4Yb6Nc1Wd7Ke3Hf5Pj0Sg", "high_entropy"),
])
def test_secret_looking_strings_are_found(text: str, label: str) -> None:
    assert label in find_secrets(text)


@pytest.mark.parametrize("text", [
    "This page explains access tokens and secrets rotation for new team members.",
    'FRONT MATTER NOW:\ntitle: "Notes on the CLI"\ntags: ["ops","security"]\nweight: 5',
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",  # a hex digest is not a secret
    "password: ****",
    "docs/train/0042-a-guide-to-the-build-cache.md",
    "ThisIsAVeryLongCamelCaseIdentifierName2",
])
def test_ordinary_text_is_not_flagged(text: str) -> None:
    assert find_secrets(text) == []


async def test_generated_docops_prompts_raise_no_false_alarm(tmp_path: Path) -> None:
    from pantheon_engine.docops.generate import make_docops_suite
    from pantheon_engine.specialize.secrets import scan_texts

    make_docops_suite(tmp_path / "suite", 40, seed=11)
    registry = default_registry()
    suite = load_suite(tmp_path / "suite", registry)
    spec = registry.get(AGENT)
    texts = []
    for task in suite.tasks:
        trajectory = await demonstrate(spec, task, suite.workspace, tmp_path / task.id,
                                       run_id=task.id)
        texts += [m.content for s in trajectory.steps for m in s.request.messages]
        texts += [s.reply for s in trajectory.steps]
    assert len(texts) > 200
    assert scan_texts(texts) == []
