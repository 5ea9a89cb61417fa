"""The tool layer: file, front-matter and developer tools, processes, registry and CLI glue."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pantheon_engine.errors import ToolArgsError, ToolFailure, ToolTimeout, UnknownToolError
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.dev import compute_diff, parse_pytest_summary, run_lint, run_tests
from pantheon_engine.tools.files import list_dir, read_file, write_file
from pantheon_engine.tools.frontmatter import (
    FrontMatterError,
    fm_delete,
    fm_rename,
    fm_set,
    join_front_matter,
    split_front_matter,
)
from pantheon_engine.tools.procs import cap_text, run_process
from pantheon_engine.tools.registry import (
    ALL_TOOLS,
    call_tool,
    get_tool,
    tool_call_cli,
    tool_specs,
)


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture()
def ctx(ws: Path) -> ToolContext:
    return ToolContext(workspace=ws)


def _gone(pid: int, wait_s: float = 3.0) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie awaiting its reaper)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


# --- read / write / list -----------------------------------------------------------------


async def test_write_then_read(ctx: ToolContext, ws: Path) -> None:
    res = await write_file.invoke(ctx, {"path": "a/b/c.txt", "content": "héllo\n"})
    assert res.model_dump() == {"path": "a/b/c.txt", "bytes": 7, "created": True}
    assert (ws / "a" / "b" / "c.txt").read_text(encoding="utf-8") == "héllo\n"
    again = await write_file.invoke(ctx, {"path": "a/b/c.txt", "content": "bye\n"})
    assert again.created is False
    read = await read_file.invoke(ctx, {"path": "a/b/c.txt"})
    assert read.model_dump() == {
        "path": "a/b/c.txt",
        "content": "bye\n",
        "truncated": False,
        "bytes": 4,
    }
    assert not [p for p in (ws / "a" / "b").iterdir() if p.name.endswith(".tmp")]


async def test_read_truncates(ctx: ToolContext, ws: Path) -> None:
    (ws / "big.txt").write_text("0123456789" * 10)
    res = await read_file.invoke(ctx, {"path": "big.txt", "max_bytes": 15})
    assert res.content == "012345678901234"
    assert res.truncated is True
    assert res.bytes == 100
    small = ToolContext(workspace=ws, output_cap=20)
    assert (await read_file.invoke(small, {"path": "big.txt"})).content == "01234567890123456789"


async def test_read_errors(ctx: ToolContext, ws: Path) -> None:
    (ws / "d").mkdir()
    (ws / "bin.dat").write_bytes(b"\x00\x01\x02")
    with pytest.raises(ToolFailure, match="does not exist"):
        await read_file.invoke(ctx, {"path": "missing.txt"})
    with pytest.raises(ToolFailure, match="use list_dir"):
        await read_file.invoke(ctx, {"path": "d"})
    with pytest.raises(ToolFailure, match="binary"):
        await read_file.invoke(ctx, {"path": "bin.dat"})
    with pytest.raises(ToolArgsError, match="path"):
        await read_file.invoke(ctx, {"file": "x"})
    with pytest.raises(ToolArgsError, match="content"):
        await write_file.invoke(ctx, {"path": "x"})


async def test_write_errors(ctx: ToolContext, ws: Path) -> None:
    (ws / "d").mkdir()
    with pytest.raises(ToolFailure, match="is a folder"):
        await write_file.invoke(ctx, {"path": "d", "content": "x"})
    with pytest.raises(ToolFailure, match="is a folder"):
        await write_file.invoke(ctx, {"path": ".", "content": "x"})


async def test_list_dir(ctx: ToolContext, ws: Path) -> None:
    (ws / ".git").mkdir()
    (ws / "zdir").mkdir()
    (ws / "b.txt").write_text("12345")
    (ws / "a.txt").write_text("")
    (ws / "ln").symlink_to("/etc")
    res = await list_dir.invoke(ctx, {})
    assert res.path == "."
    assert [(e.name, e.kind, e.size) for e in res.entries] == [
        ("zdir", "dir", 0),
        ("a.txt", "file", 0),
        ("b.txt", "file", 5),
        ("ln", "link", 0),
    ]
    sub = await list_dir.invoke(ctx, {"path": "zdir"})
    assert sub.entries == [] and sub.path == "zdir"
    with pytest.raises(ToolFailure, match="does not exist"):
        await list_dir.invoke(ctx, {"path": "nope"})
    with pytest.raises(ToolFailure, match="use read_file"):
        await list_dir.invoke(ctx, {"path": "a.txt"})


# --- front matter ------------------------------------------------------------------------

BODY = "# Title\n\n---\nnot front matter\n---\ntrailing spaces   \r\nno final newline"


def test_split_and_join_round_trip() -> None:
    text = "---\ntitle: Hello\ntags:\n- a\n- b\n---\n" + BODY
    meta, body = split_front_matter(text)
    assert meta == {"title": "Hello", "tags": ["a", "b"]}
    assert body == BODY
    assert join_front_matter(meta, body) == text


def test_split_without_front_matter() -> None:
    assert split_front_matter(BODY) == (None, BODY)
    assert split_front_matter("") == (None, "")
    assert split_front_matter(" ---\na: 1\n---\n") == (None, " ---\na: 1\n---\n")
    assert join_front_matter(None, BODY) == BODY


def test_split_edge_cases() -> None:
    assert split_front_matter("---\n---\nbody") == ({}, "body")
    assert split_front_matter("---\r\na: 1\r\n---\r\nbody\r\n") == ({"a": 1}, "body\r\n")
    assert split_front_matter("---\na: 1\n...\nbody") == ({"a": 1}, "body")
    assert split_front_matter("---\na: 1\n---") == ({"a": 1}, "")
    assert join_front_matter({}, "body") == "---\n---\nbody"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("---\na: 1\nno end\n", "no closing"),
        ("---\na: [1\n---\n", "not valid YAML"),
        ("---\n- a\n- b\n---\n", "mapping"),
        ("---\njust text\n---\n", "mapping"),
    ],
)
def test_split_malformed(text: str, match: str) -> None:
    with pytest.raises(FrontMatterError, match=match):
        split_front_matter(text)


async def test_fm_set_creates_front_matter(ctx: ToolContext, ws: Path) -> None:
    (ws / "doc.md").write_bytes(BODY.encode())
    res = await fm_set.invoke(ctx, {"path": "doc.md", "key": "title", "value": "Ünï: x"})
    assert res.changed and res.keys == ["title"]
    text = (ws / "doc.md").read_bytes().decode()
    assert text.endswith(BODY)
    assert split_front_matter(text) == ({"title": "Ünï: x"}, BODY)
    assert "Ünï" in text  # allow_unicode: no \u escapes


async def test_fm_set_keeps_order_and_body(ctx: ToolContext, ws: Path) -> None:
    original = "---\nzeta: 1\nalpha: two\nmid: [x]\n---\n" + BODY
    (ws / "doc.md").write_bytes(original.encode())
    res = await fm_set.invoke(ctx, {"path": "doc.md", "key": "alpha", "value": "changed"})
    assert res.keys == ["zeta", "alpha", "mid"]
    res = await fm_set.invoke(ctx, {"path": "doc.md", "key": "new", "value": "yes"})
    assert res.keys == ["zeta", "alpha", "mid", "new"]
    meta, body = split_front_matter((ws / "doc.md").read_bytes().decode())
    assert meta == {"zeta": 1, "alpha": "changed", "mid": ["x"], "new": "yes"}
    assert body == BODY
    same = await fm_set.invoke(ctx, {"path": "doc.md", "key": "new", "value": "yes"})
    assert same.changed is False


async def test_fm_set_value_is_a_string_unless_parsed(ctx: ToolContext, ws: Path) -> None:
    (ws / "doc.md").write_text("body\n")
    await fm_set.invoke(ctx, {"path": "doc.md", "key": "n", "value": "42"})
    await fm_set.invoke(ctx, {"path": "doc.md", "key": "tags", "value": "[a, b]", "parse": True})
    meta, _ = split_front_matter((ws / "doc.md").read_text())
    assert meta == {"n": "42", "tags": ["a", "b"]}


async def test_fm_delete_and_rename(ctx: ToolContext, ws: Path) -> None:
    (ws / "doc.md").write_bytes(("---\na: 1\nb: 2\nc: 3\n---\n" + BODY).encode())
    res = await fm_rename.invoke(ctx, {"path": "doc.md", "key": "b", "new_key": "bee"})
    assert res.keys == ["a", "bee", "c"]
    res = await fm_delete.invoke(ctx, {"path": "doc.md", "key": "a"})
    assert res.keys == ["bee", "c"]
    meta, body = split_front_matter((ws / "doc.md").read_bytes().decode())
    assert meta == {"bee": 2, "c": 3}
    assert body == BODY
    with pytest.raises(ToolFailure, match="no front matter key 'zzz'"):
        await fm_delete.invoke(ctx, {"path": "doc.md", "key": "zzz"})
    with pytest.raises(ToolFailure, match="no front matter key 'zzz'"):
        await fm_rename.invoke(ctx, {"path": "doc.md", "key": "zzz", "new_key": "y"})
    with pytest.raises(ToolFailure, match="already has a key 'c'"):
        await fm_rename.invoke(ctx, {"path": "doc.md", "key": "bee", "new_key": "c"})


async def test_fm_errors(ctx: ToolContext, ws: Path) -> None:
    (ws / "bad.md").write_text("---\na: [1\n---\nbody\n")
    (ws / "plain.md").write_text("body\n")
    with pytest.raises(ToolFailure, match=r"bad\.md.*not valid YAML"):
        await fm_set.invoke(ctx, {"path": "bad.md", "key": "a", "value": "b"})
    assert (ws / "bad.md").read_text() == "---\na: [1\n---\nbody\n"
    with pytest.raises(ToolFailure, match="no front matter key"):
        await fm_delete.invoke(ctx, {"path": "plain.md", "key": "a"})
    with pytest.raises(ToolFailure, match="not an existing file"):
        await fm_set.invoke(ctx, {"path": "missing.md", "key": "a", "value": "b"})
    with pytest.raises(ToolArgsError):
        await fm_set.invoke(ctx, {"path": "plain.md", "key": "", "value": "b"})


async def test_fm_read_through_call_tool(ws: Path) -> None:
    (ws / "doc.md").write_text("---\ndate: 2024-05-01\n1: one\n---\nbody\n")
    result = await call_tool("fm_read", ws, {"path": "doc.md"})
    assert result == {"path": "doc.md", "found": True, "meta": {"date": "2024-05-01", "1": "one"}}
    json.dumps(result)
    (ws / "plain.md").write_text("body\n")
    assert (await call_tool("fm_read", ws, {"path": "plain.md"}))["found"] is False


# --- processes ---------------------------------------------------------------------------


async def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    started = time.monotonic()
    script = "sleep 30 & echo $! > child.pid; sleep 30"
    with pytest.raises(ToolTimeout, match="timed out"):
        await run_process(
            ["sh", "-c", script],
            cwd=tmp_path,
            env=dict(os.environ),
            timeout_s=1.0,
            output_cap=1000,
        )
    assert time.monotonic() - started < 5
    child = int((tmp_path / "child.pid").read_text())
    assert _gone(child), "the background child must die with its group"


async def test_timeout_result_when_not_raising(tmp_path: Path) -> None:
    res = await run_process(
        ["sh", "-c", "echo started; sleep 30 & echo $!; wait"],
        cwd=tmp_path,
        env=dict(os.environ),
        timeout_s=1.0,
        output_cap=1000,
        raise_on_timeout=False,
    )
    assert res.timed_out is True
    assert res.returncode != 0
    assert res.output.startswith("started")
    assert _gone(int(res.output.split()[1]))


async def test_cancellation_kills_the_process_group(tmp_path: Path) -> None:
    script = "sleep 30 & echo $! > child.pid; sleep 30"
    call = run_process(
        ["sh", "-c", script], cwd=tmp_path, env=dict(os.environ), timeout_s=60, output_cap=100
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(call, 1.0)
    assert _gone(int((tmp_path / "child.pid").read_text()))


async def test_straggler_does_not_hold_the_tool(tmp_path: Path) -> None:
    started = time.monotonic()
    res = await run_process(
        ["sh", "-c", "sleep 30 & echo $!; echo done"],
        cwd=tmp_path,
        env=dict(os.environ),
        timeout_s=20,
        output_cap=1000,
    )
    assert time.monotonic() - started < 5
    assert res.returncode == 0 and res.output.endswith("done\n")
    assert _gone(int(res.output.split()[0]))


async def test_output_cap(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('A' * 500 + 'x' * 1_000_000 + 'Z' * 500); print('END')"
    res = await run_process(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=dict(os.environ),
        timeout_s=30,
        output_cap=1000,
    )
    assert res.truncated is True
    assert res.output.startswith("A" * 500)
    assert res.output.endswith("Z" * 496 + "END\n")
    assert "[… 1000004 bytes cut]" in res.output
    assert len(res.output) < 1100
    assert cap_text("abc", 10) == ("abc", False)
    assert cap_text("a" * 10 + "b" * 10, 4) == ("aa\n[… 16 bytes cut]\nbb", True)


async def test_stderr_is_merged_and_prefix_applies(tmp_path: Path) -> None:
    res = await run_process(
        ["sh", "-c", "echo out; echo err >&2; echo $FOO; exit 3"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        timeout_s=10,
        output_cap=1000,
        command_prefix=["env", "FOO=prefixed"],
    )
    assert res.returncode == 3
    assert res.output.split() == ["out", "err", "prefixed"]
    assert res.truncated is False and res.timed_out is False


async def test_missing_program(tmp_path: Path) -> None:
    with pytest.raises(ToolFailure, match="cannot start"):
        await run_process(
            ["definitely-not-a-program-xyz"],
            cwd=tmp_path,
            env=dict(os.environ),
            timeout_s=5,
            output_cap=100,
        )


# --- compute_diff ------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture()
def repo(ws: Path) -> Path:
    _git(ws, "init", "-q")
    (ws / "keep.txt").write_text("one\ntwo\nthree\n")
    (ws / "gone.txt").write_text("bye\n")
    (ws / ".gitignore").write_text("ignored.txt\n")
    _git(ws, "add", ".")
    _git(ws, "commit", "-q", "-m", "init")
    return ws


async def test_compute_diff_includes_untracked(ctx: ToolContext, repo: Path) -> None:
    (repo / "keep.txt").write_text("one\n2\nthree\nfour\n")
    (repo / "gone.txt").unlink()
    (repo / "new dir").mkdir()
    (repo / "new dir" / "new.py").write_text("print('hi')\n")
    (repo / "ignored.txt").write_text("secret\n")
    status_before = _git(repo, "status", "--porcelain")
    index_before = (repo / ".git" / "index").read_bytes()
    res = await compute_diff.invoke(ctx, {})
    assert res.files == 3
    assert res.lines_added == 3  # '2', 'four', print
    assert res.lines_removed == 2  # 'two', 'bye'
    assert "+++ b/new dir/new.py" in res.diff
    assert "new file mode" in res.diff
    assert "deleted file mode" in res.diff
    assert "ignored.txt" not in res.diff
    assert res.truncated is False
    assert _git(repo, "status", "--porcelain") == status_before
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert _git(repo, "diff", "--cached") == ""


async def test_compute_diff_paths_and_clean(ctx: ToolContext, repo: Path) -> None:
    clean = await compute_diff.invoke(ctx, {})
    assert (clean.diff, clean.files, clean.lines_added) == ("", 0, 0)
    (repo / "keep.txt").write_text("changed\n")
    (repo / "other.txt").write_text("x\n")
    only = await compute_diff.invoke(ctx, {"paths": ["other.txt"]})
    assert only.files == 1 and "other.txt" in only.diff and "keep.txt" not in only.diff


async def test_compute_diff_without_commits(ctx: ToolContext, ws: Path) -> None:
    _git(ws, "init", "-q")
    (ws / "a.txt").write_text("a\nb\n")
    res = await compute_diff.invoke(ctx, {})
    assert (res.files, res.lines_added, res.lines_removed) == (1, 2, 0)


async def test_compute_diff_outside_git(ctx: ToolContext) -> None:
    env = {**ctx.env, "GIT_CEILING_DIRECTORIES": str(ctx.workspace.parent)}
    with pytest.raises(ToolFailure, match="not inside a git repository"):
        await compute_diff.invoke(ToolContext(workspace=ctx.workspace, env=env), {})


async def test_compute_diff_cap(repo: Path) -> None:
    (repo / "big.txt").write_text("line\n" * 5000)
    res = await compute_diff.invoke(ToolContext(workspace=repo, output_cap=2000), {})
    assert res.truncated is True and "bytes cut]" in res.diff
    assert res.lines_added == 5000


# --- run_tests / run_lint ----------------------------------------------------------------


@pytest.fixture()
def package(ws: Path) -> Path:
    (ws / "pkg").mkdir()
    (ws / "pkg" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / "tests").mkdir()
    (ws / "tests" / "test_ok.py").write_text(
        "from pkg import add\n\n\ndef test_one():\n    assert add(1, 2) == 3\n\n\n"
        "def test_two():\n    assert add(2, 2) == 4\n"
    )
    return ws


async def test_run_tests_passing(ctx: ToolContext, package: Path) -> None:
    res = await run_tests.invoke(ctx, {})
    assert res.passed is True, res.output
    assert res.returncode == 0
    assert res.counts.passed == 2 and res.counts.failed == 0
    assert res.summary.startswith("2 passed in ")
    assert not list(package.rglob("__pycache__"))
    assert not (package / ".pytest_cache").exists()


async def test_run_tests_failing(ctx: ToolContext, package: Path) -> None:
    (package / "tests" / "test_bad.py").write_text(
        "from pkg import add\n\n\ndef test_bad():\n    assert add(1, 1) == 3\n"
    )
    res = await run_tests.invoke(ctx, {})
    assert res.passed is False
    assert res.returncode == 1
    assert res.counts.failed == 1
    assert "1 failed" in res.summary and "exit code 1" in res.summary
    assert "assert 2 == 3" in res.output
    only = await run_tests.invoke(ctx, {"target": "tests/test_ok.py::test_two"})
    assert only.passed is True and only.counts.passed == 1
    picked = await run_tests.invoke(ctx, {"k": "one or two"})
    assert picked.passed is True and picked.counts.passed == 2


async def test_run_tests_no_tests(ctx: ToolContext, ws: Path) -> None:
    res = await run_tests.invoke(ctx, {})
    assert res.passed is False
    assert res.returncode == 5
    assert "no tests collected" in res.summary


async def test_run_tests_target_must_stay_inside(ctx: ToolContext, package: Path) -> None:
    from pantheon_engine.errors import WorkspaceError

    with pytest.raises(WorkspaceError):
        await run_tests.invoke(ctx, {"target": "../elsewhere::test_x"})


async def test_run_tests_timeout_kills_children(ws: Path) -> None:
    (ws / "test_slow.py").write_text(
        "import pathlib, subprocess\n\n\ndef test_slow():\n"
        "    child = subprocess.Popen(['sleep', '60'])\n"
        "    pathlib.Path('child.pid').write_text(str(child.pid))\n"
        "    child.wait()\n"
    )
    ctx = ToolContext(workspace=ws, timeout_scale=0.01)  # run_tests: 3 s
    started = time.monotonic()
    with pytest.raises(ToolTimeout):
        await run_tests.invoke(ctx, {})
    assert time.monotonic() - started < 15
    assert _gone(int((ws / "child.pid").read_text()))


def test_parse_pytest_summary() -> None:
    out = "x\n==== 1 failed, 3 passed, 2 skipped, 1 error in 0.12s ====\n"
    summary, counts = parse_pytest_summary(out)
    assert summary == "1 failed, 3 passed, 2 skipped, 1 error in 0.12s"
    assert counts.model_dump() == {"passed": 3, "failed": 1, "errors": 1, "skipped": 2}
    assert parse_pytest_summary("no tests ran in 0.01s\n")[0] == "no tests ran in 0.01s"
    assert parse_pytest_summary("nothing here\n") == ("", parse_pytest_summary("")[1])


async def test_run_lint(ctx: ToolContext, ws: Path) -> None:
    (ws / "good.py").write_text("def f() -> int:\n    return 1\n")
    ok = await run_lint.invoke(ctx, {"path": "good.py"})
    assert ok.ok is True and ok.issues == 0
    (ws / "bad.py").write_text("import os\nimport sys\n")
    bad = await run_lint.invoke(ctx, {})
    assert bad.ok is False
    assert bad.issues == 2
    assert "bad.py:1:8: F401" in bad.output


# --- registry and CLI --------------------------------------------------------------------


def test_registry() -> None:
    assert set(ALL_TOOLS) == {
        "read_file",
        "write_file",
        "list_dir",
        "fm_read",
        "fm_set",
        "fm_delete",
        "fm_rename",
        "compute_diff",
        "run_tests",
        "run_lint",
        "compare_reference",
    }
    assert get_tool("read_file").name == "read_file"
    known = "known tools: compare_reference, compute_diff, fm_delete"
    with pytest.raises(UnknownToolError, match=known):
        get_tool("rm_rf")
    specs = tool_specs(["write_file"])
    assert specs[0]["args"]["required"] == ["path", "content"]
    assert len(tool_specs()) == len(ALL_TOOLS)


def test_tool_call_cli_success(ws: Path) -> None:
    code, text = tool_call_cli("write_file", ws, '{"path": "n/x.md", "content": "hi"}')
    assert code == 0
    assert json.loads(text) == {
        "ok": True,
        "tool": "write_file",
        "result": {"path": "n/x.md", "bytes": 2, "created": True},
    }
    code, text = tool_call_cli("list_dir", ws, "")
    assert code == 0 and json.loads(text)["result"]["entries"][0]["name"] == "n"


@pytest.mark.parametrize(
    ("name", "args", "kind", "message"),
    [
        ("read_file", '{"path": "../x"}', "workspace", "'..' leads outside"),
        ("read_file", "{not json", "schema", "not valid JSON"),
        ("read_file", "[1, 2]", "schema", "must be a JSON object"),
        ("read_file", '{"nope": 1}', "schema", "invalid arguments"),
        ("rm_rf", "{}", "unknown_tool", "known tools"),
        ("read_file", '{"path": "missing.txt"}', "tool_error", "does not exist"),
    ],
)
def test_tool_call_cli_errors(ws: Path, name: str, args: str, kind: str, message: str) -> None:
    code, text = tool_call_cli(name, ws, args)
    body = json.loads(text)
    assert code != 0
    assert body["ok"] is False and body["tool"] == name
    assert body["error"]["kind"] == kind
    assert message in body["error"]["message"]


def test_tool_call_cli_missing_workspace(tmp_path: Path) -> None:
    code, text = tool_call_cli("list_dir", tmp_path / "nope", "{}")
    assert code == 2
    assert json.loads(text)["error"]["kind"] == "workspace"


async def test_compute_diff_with_a_path_filter_naming_a_deleted_file(tmp_path: Path) -> None:
    """A deleted file is a change too, also when the diff is limited to it."""

    from pantheon_engine.tools.registry import call_tool

    ident = ["-c", "user.name=t", "-c", "user.email=t@localhost"]
    (tmp_path / "gone.txt").write_text("bye\n")
    (tmp_path / "kept.txt").write_text("hi\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(["git", *ident, "commit", "-qm", "i"], cwd=tmp_path, check=True)
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "new.txt").write_text("new\n")
    result = await call_tool("compute_diff", tmp_path, {"paths": ["gone.txt"]})
    assert result["files"] == 1 and result["lines_removed"] == 1
    assert "deleted file mode" in result["diff"] and "new.txt" not in result["diff"]
    everything = await call_tool("compute_diff", tmp_path, {})
    assert everything["files"] == 2 and "new.txt" in everything["diff"]
