"""Developer tools that run subprocesses: ``compute_diff`` (git), ``run_tests`` (pytest),
``run_lint`` (ruff).

All go through :func:`run_process` with the context's environment, sandbox prefix and
output cap, so a timeout kills the whole process group. Each process gets a timeout a
little shorter than the tool's own, so the tool reports the process timeout first.

``compute_diff`` must show new, untracked files without touching the repository's index:
it copies the index to a temporary file, marks untracked files intent-to-add there
(``GIT_INDEX_FILE``), and diffs ``HEAD`` (or the empty tree) against the working tree.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from pantheon_engine.errors import ToolFailure
from pantheon_engine.tools.base import Tool, ToolContext
from pantheon_engine.tools.procs import ProcResult, cap_text, run_process
from pantheon_engine.tools.workspace import (
    relative_display,
    resolve_in_workspace,
    workspace_root,
)

GIT_TIMEOUT_S = 30.0
TESTS_TIMEOUT_S = 300.0
LINT_TIMEOUT_S = 60.0
_MARGIN_S = 5.0
_LIST_CAP = 4_000_000  # internal listings (file names) get a larger cap than tool output


def _pathspecs(ctx: ToolContext, paths: list[str]) -> list[str]:
    specs = [relative_display(ctx.workspace, resolve_in_workspace(ctx.workspace, p)) for p in paths]
    return specs or ["."]


# --- compute_diff ------------------------------------------------------------------------


class DiffArgs(BaseModel):
    paths: list[str] = Field(
        default_factory=list, description="limit the diff to these paths (default: all)"
    )


class DiffResult(BaseModel):
    diff: str
    truncated: bool
    files: int
    lines_added: int
    lines_removed: int
    #: the changed files, relative to the workspace
    paths: list[str] = Field(default_factory=list)


_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX")


async def _git(
    ctx: ToolContext, args: list[str], *, extra: dict[str, str] | None = None, cap: int = 0
) -> ProcResult:
    """Run git in the workspace; an inherited GIT_DIR and the like must not redirect it."""
    genv = {k: v for k, v in ctx.env.items() if k not in _GIT_ENV_DROP}
    genv.update({"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"})
    genv["GIT_LITERAL_PATHSPECS"] = "1"
    genv.update(extra or {})
    return await run_process(
        ["git", "-c", "core.quotepath=off", *args],
        cwd=workspace_root(ctx.workspace),
        env=genv,
        timeout_s=GIT_TIMEOUT_S * ctx.timeout_scale,
        output_cap=cap or _LIST_CAP,
        command_prefix=ctx.command_prefix,
    )


def _checked(res: ProcResult, what: str) -> str:
    if res.returncode != 0:
        tail = res.output[-500:]
        raise ToolFailure(f"compute_diff: {what} failed (exit {res.returncode}): {tail}")
    return res.output


def _index_path(root: Path) -> Path | None:
    """The index git would use for ``root`` (worktrees included), found without a process."""
    for folder in (root, *root.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            return dotgit / "index"
        if dotgit.is_file():
            text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            gitdir = Path(text[len("gitdir:"):].strip())
            return (gitdir if gitdir.is_absolute() else folder / gitdir) / "index"
    return None


async def _compute_diff(ctx: ToolContext, args: DiffArgs) -> DiffResult:
    """Diff the work tree (new files included) against HEAD in two git processes.

    A copy of the index gets the untracked files as intent-to-add, so they show up while
    the repository's own index is never touched.
    """
    specs = _pathspecs(ctx, args.paths) or ["."]
    root = workspace_root(ctx.workspace)
    index = _index_path(root)
    if index is None:
        probe = await _git(ctx, ["rev-parse", "--git-path", "index"])
        if probe.returncode != 0:
            raise ToolFailure(f"compute_diff: {str(root)!r} is not inside a git repository")
        index = root / probe.output.strip()
    with tempfile.TemporaryDirectory(prefix="pantheon-diff-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        if index.is_file():
            shutil.copyfile(index, env["GIT_INDEX_FILE"])
        # the whole work tree: a pathspec naming a deleted file would make `git add` fail
        intent = await _git(ctx, ["add", "--intent-to-add", "--", "."], extra=env)
        _checked(intent, "git add -N")
        diff_opts = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames"]
        diff_opts += ["--relative", "--src-prefix=a/", "--dst-prefix=b/", "--numstat", "-p"]
        cap = ctx.output_cap + _LIST_CAP
        # one git process for both: the numstat block, an empty line, then the patch
        # (the counts stay exact when the patch text is capped)
        both = await _git(ctx, [*diff_opts, "HEAD", "--", *specs], extra=env, cap=cap)
        if both.returncode != 0 and "HEAD" in both.output:
            # no commit yet: diff against the empty tree of this repository's hash kind
            hashed = await _git(ctx, ["hash-object", "-t", "tree", "--stdin"])
            empty = _checked(hashed, "hash").strip()
            both = await _git(ctx, [*diff_opts, empty, "--", *specs], extra=env, cap=cap)
        _checked(both, "git diff")
    numstat, _, patch = both.output.partition("\n\n") if both.output else ("", "", "")
    if not patch and numstat.startswith("diff --git"):
        numstat, patch = "", both.output
    if len(patch) > ctx.output_cap:
        patch, cut = cap_text(patch, ctx.output_cap)
    else:
        cut = False
    files = added = removed = 0
    paths: list[str] = []
    for line in numstat.splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3:
            continue
        files += 1
        paths.append(parts[2])
        added += int(parts[0]) if parts[0].isdigit() else 0
        removed += int(parts[1]) if parts[1].isdigit() else 0
    return DiffResult(
        diff=patch,
        truncated=both.truncated or cut,
        files=files,
        lines_added=added,
        lines_removed=removed,
        paths=paths,
    )


compute_diff: Tool[DiffArgs, DiffResult] = Tool(
    name="compute_diff",
    description="Show the workspace changes against the last commit, new files included.",
    args_model=DiffArgs,
    result_model=DiffResult,
    fn=_compute_diff,
    timeout_s=GIT_TIMEOUT_S * 4 + _MARGIN_S,
)


# --- run_tests ---------------------------------------------------------------------------


class RunTestsArgs(BaseModel):
    target: str | None = Field(
        default=None, description="test file or folder (optionally with ::test_name)"
    )
    k: str | None = Field(default=None, description="pytest -k expression")


class PytestCounts(BaseModel):
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0


class RunTestsResult(BaseModel):
    passed: bool
    returncode: int
    summary: str
    counts: PytestCounts
    output: str
    truncated: bool
    seconds: float


_SUMMARY = re.compile(
    r"\d+ (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b|no tests ran"
)
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped)\b")
_EXIT_MEANING = {
    1: "tests failed",
    2: "test run interrupted (collection error or -x stop)",
    3: "pytest internal error",
    4: "pytest usage error",
    5: "no tests collected",
}


def parse_pytest_summary(output: str) -> tuple[str, PytestCounts]:
    """The final summary line of pytest (``3 passed in 0.1s``) and its counts."""
    for raw in reversed(output.splitlines()):
        line = raw.strip().strip("=").strip()
        if _SUMMARY.search(line):
            counts = PytestCounts()
            for number, word in _COUNT.findall(line):
                field = "errors" if word.startswith("error") else word
                setattr(counts, field, getattr(counts, field) + int(number))
            return line, counts
    return "", PytestCounts()


def _test_target(ctx: ToolContext, target: str) -> str:
    path, sep, node = target.partition("::")
    shown = relative_display(ctx.workspace, resolve_in_workspace(ctx.workspace, path))
    if shown.startswith("-"):
        shown = f"./{shown}"  # never let a file name pass as an option
    return f"{shown}{sep}{node}"


async def _run_tests(ctx: ToolContext, args: RunTestsArgs) -> RunTestsResult:
    argv = [sys.executable, "-m", "pytest", "-q", "-x", "--no-header", "-p", "no:cacheprovider"]
    argv.append("--color=no")
    if args.k:
        argv.append(f"-k{args.k}")
    if args.target:
        argv.append(_test_target(ctx, args.target))
    env = dict(ctx.env)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep __pycache__ out of the workspace diff
    for name in ("PYTHONSAFEPATH", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)  # ``-m`` must put the workspace on sys.path
    res = await run_process(
        argv,
        cwd=workspace_root(ctx.workspace),
        env=env,
        timeout_s=TESTS_TIMEOUT_S * ctx.timeout_scale,
        output_cap=ctx.output_cap,
        command_prefix=ctx.command_prefix,
    )
    summary, counts = parse_pytest_summary(res.output)
    if res.returncode != 0:
        meaning = _EXIT_MEANING.get(res.returncode, "pytest failed")
        summary = f"{meaning} (pytest exit code {res.returncode})" + (
            f": {summary}" if summary else ""
        )
    return RunTestsResult(
        passed=res.returncode == 0,
        returncode=res.returncode,
        summary=summary,
        counts=counts,
        output=res.output,
        truncated=res.truncated,
        seconds=res.seconds,
    )


run_tests: Tool[RunTestsArgs, RunTestsResult] = Tool(
    name="run_tests",
    description="Run pytest in the workspace (stops at the first failure).",
    args_model=RunTestsArgs,
    result_model=RunTestsResult,
    fn=_run_tests,
    timeout_s=TESTS_TIMEOUT_S + _MARGIN_S,
)


# --- run_lint ----------------------------------------------------------------------------


class LintArgs(BaseModel):
    path: str = Field(default=".", description="file or folder to lint")


class LintResult(BaseModel):
    ok: bool
    issues: int
    output: str
    truncated: bool


_FOUND = re.compile(r"Found (\d+) errors?")
_ISSUE_LINE = re.compile(r"^\S.*:\d+:\d+: ")


async def _run_lint(ctx: ToolContext, args: LintArgs) -> LintResult:
    target = relative_display(ctx.workspace, resolve_in_workspace(ctx.workspace, args.path))
    if target.startswith("-"):
        target = f"./{target}"
    argv = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise"]
    res = await run_process(
        [*argv, "--", target],
        cwd=workspace_root(ctx.workspace),
        env=dict(ctx.env),
        timeout_s=LINT_TIMEOUT_S * ctx.timeout_scale,
        output_cap=ctx.output_cap,
        command_prefix=ctx.command_prefix,
    )
    if "No module named ruff" in res.output:
        raise ToolFailure("run_lint: ruff is not installed in this environment")
    if res.returncode not in (0, 1):
        raise ToolFailure(f"run_lint: ruff failed (exit {res.returncode}): {res.output[-1000:]}")
    found = _FOUND.search(res.output)
    if found:
        issues = int(found.group(1))
    else:
        issues = sum(1 for line in res.output.splitlines() if _ISSUE_LINE.match(line))
    return LintResult(
        ok=res.returncode == 0, issues=issues, output=res.output, truncated=res.truncated
    )


run_lint: Tool[LintArgs, LintResult] = Tool(
    name="run_lint",
    description="Lint Python code with ruff.",
    args_model=LintArgs,
    result_model=LintResult,
    fn=_run_lint,
    timeout_s=LINT_TIMEOUT_S + _MARGIN_S,
)
