"""The built-in agents: plan.validate, codegen, test.pytest, review.peer, merge.gate,
doc.frontmatter."""

from __future__ import annotations

import copy
import difflib
from typing import Any

from pydantic import BaseModel

from pantheon_engine.agents.context import AgentContext
from pantheon_engine.agents.io import (
    CodegenFinal,
    CodePatch,
    DocFinal,
    DocTask,
    MergeInput,
    MergeResult,
    Plan,
    Review,
    ReviewInput,
    ReviewVerdict,
    Spec,
    TestReport,
)
from pantheon_engine.agents.spec import AgentSpec, CheckFailed, Limits, Prepared
from pantheon_engine.errors import NodeFailed, RunFailure, WorkspaceError
from pantheon_engine.gitops import commit_change
from pantheon_engine.grammar import compact_json
from pantheon_engine.tools.frontmatter import split_front_matter
from pantheon_engine.tools.workspace import resolve_in_workspace

VERSION = "1"
#: the merge gate refuses to merge while reviewer agreement is below this (Cohen's κ)
KAPPA_THRESHOLD = 0.6
DIFF_PREVIEW = 3_000


def narrow(schema: dict[str, Any], field: str, values: list[str]) -> dict[str, Any]:
    """A copy of a tool's args schema whose ``field`` only admits ``values``."""
    narrowed = copy.deepcopy(schema)
    narrowed["properties"][field] = {"type": "string", "enum": list(dict.fromkeys(values))}
    return narrowed


def _only(schema: dict[str, Any], *fields: str) -> dict[str, Any]:
    """A copy of an args schema keeping only ``fields`` (drops optional extras)."""
    kept = copy.deepcopy(schema)
    kept["properties"] = {k: v for k, v in kept["properties"].items() if k in fields}
    kept["required"] = [k for k in kept.get("required", []) if k in fields]
    return kept


async def _patch(ctx: AgentContext, summary: str) -> CodePatch:
    """The node's change so far (also written to diff.patch)."""
    result = await ctx.call_tool("compute_diff")
    ctx.artifacts.write_text("diff.patch", result.diff)
    return CodePatch(diff=result.diff, files_changed=result.files,
                     lines_added=result.lines_added, lines_removed=result.lines_removed,
                     summary=summary)


def _file_patch(ctx: AgentContext, rel: str, before: str, summary: str) -> CodePatch:
    """The change of one file against its earlier text, as a git-style unified diff."""
    after = resolve_in_workspace(ctx.workspace, rel).read_text(encoding="utf-8")
    lines = []
    for line in difflib.unified_diff(before.splitlines(keepends=True),
                                     after.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    diff = f"diff --git a/{rel} b/{rel}\n" + "".join(lines) if lines else ""
    body = [line for line in lines[2:] if not line.startswith("@@")]
    ctx.artifacts.write_text("diff.patch", diff)
    return CodePatch(diff=diff, files_changed=1 if lines else 0,
                     lines_added=sum(line.startswith("+") for line in body),
                     lines_removed=sum(line.startswith("-") for line in body),
                     summary=summary)


# --- plan.validate -----------------------------------------------------------------------


async def _plan(ctx: AgentContext, spec: BaseModel) -> BaseModel:
    assert isinstance(spec, Spec)
    problems, existing = [], {}
    for name in spec.files:
        try:
            path = resolve_in_workspace(ctx.workspace, name)
        except WorkspaceError as exc:
            problems.append(str(exc))
            continue
        if path.is_file():
            existing[name] = path.read_text(encoding="utf-8", errors="replace")
        elif path.exists():
            problems.append(f"{name} exists but is not a file")
    try:
        tests = resolve_in_workspace(ctx.workspace, spec.tests)
        if not tests.exists():
            problems.append(f"test path {spec.tests!r} does not exist in the workspace")
    except WorkspaceError as exc:
        problems.append(str(exc))
    if problems:
        raise NodeFailed("the spec does not fit the workspace: " + "; ".join(problems),
                         kind="invalid_spec")
    steps = [f"edit {name}" for name in spec.files] + [f"satisfy: {a}" for a in spec.acceptance]
    plan = Plan(**spec.model_dump(), steps=steps, existing=existing)
    ctx.artifacts.write_json("report.json", {"files": spec.files, "steps": steps})
    return plan


PLAN_VALIDATE = AgentSpec(
    name="plan.validate", version=VERSION,
    description="checks a spec against the workspace and lists the steps",
    input_model=Spec, output_model=Plan, run=_plan,
)


# --- codegen -----------------------------------------------------------------------------

CODEGEN_PROMPT = """\
TASK: $title
SCOPE: $scope
ACCEPTANCE:
$acceptance_list
FILES you may write: $file_list
CURRENT CONTENT:
$current
Write the complete new content of each file with write_file, then reply final with a short summary.
"""


async def _codegen_prepare(ctx: AgentContext, plan: BaseModel) -> Prepared:
    assert isinstance(plan, Plan)
    current = "\n".join(
        f"--- {name}\n{plan.existing.get(name, '(new file)')}" for name in plan.files
    )
    write = ctx.tool("write_file").args_schema()
    read = ctx.tool("read_file").args_schema()
    return Prepared(
        variables={
            "acceptance_list": "\n".join(f"- {a}" for a in plan.acceptance),
            "file_list": ", ".join(plan.files),
            "current": current,
        },
        schema_overrides={
            "write_file": narrow(write, "path", plan.files),
            "read_file": narrow(read, "path", [*plan.files, plan.tests]),
        },
    )


async def _codegen_finish(ctx: AgentContext, plan: BaseModel, final: BaseModel) -> BaseModel:
    assert isinstance(final, CodegenFinal)
    patch = await _patch(ctx, final.summary)
    if not patch.files_changed:
        raise CheckFailed("no file was changed: write the code with write_file before final")
    return patch


CODEGEN = AgentSpec(
    name="codegen", version=VERSION,
    description="writes the code change a spec asks for",
    input_model=Plan, output_model=CodePatch, final_model=CodegenFinal,
    tools=["read_file", "write_file", "list_dir"],
    prompt=CODEGEN_PROMPT,
    limits=Limits(max_steps=6, max_failures=3, max_tokens=768, grammar_max_string=None),
    prepare=_codegen_prepare, finish=_codegen_finish,
)


# --- test.pytest -------------------------------------------------------------------------


async def _tests(ctx: AgentContext, _: BaseModel) -> BaseModel:
    target = str(ctx.params.get("path") or ctx.run_input.get("tests") or "tests")
    result = await ctx.call_tool("run_tests", target=target)
    ctx.artifacts.write_text("tests.log", result.output)
    report = TestReport(passed=result.passed, test_summary=result.summary,
                        counts=dict(result.counts))
    ctx.artifacts.write_json("report.json", report)
    if not report.passed:
        raise NodeFailed(f"tests failed: {report.test_summary}", kind="tests_failed")
    return report


class _AnyInput(BaseModel):
    model_config = {"extra": "allow"}


TEST_PYTEST = AgentSpec(
    name="test.pytest", version=VERSION,
    description="runs pytest in the workspace and fails the node when tests fail",
    input_model=_AnyInput, output_model=TestReport, run=_tests,
    limits=Limits(tool_timeout_s=300),
)


# --- review.peer -------------------------------------------------------------------------

REVIEW_PROMPT = """\
You review a change. Persona: $persona.
TASK: $task
ACCEPTANCE:
$acceptance_list
TESTS: $tests_line
DIFF:
$diff_preview
Reply final with verdict "pass" if the diff does what the task asks, else "fail",
and a short rationale.
"""


async def _review_prepare(ctx: AgentContext, data: BaseModel) -> Prepared:
    assert isinstance(data, ReviewInput)
    acceptance = ctx.run_input.get("acceptance") or _doc_rules(ctx.run_input)
    diff = data.diff if len(data.diff) <= DIFF_PREVIEW else data.diff[:DIFF_PREVIEW] + "\n…"
    tests = "not run" if data.passed is None else (
        f"{'passed' if data.passed else 'FAILED'} ({data.test_summary})")
    return Prepared(variables={
        "persona": str(ctx.params.get("persona", "careful")),
        "task": str(ctx.run_input.get("title") or data.summary or "front-matter change"),
        "acceptance_list": "\n".join(f"- {a}" for a in acceptance) or "- (none given)",
        "tests_line": tests,
        "diff_preview": diff or "(empty diff)",
    })


def _doc_rules(run_input: dict[str, Any]) -> list[str]:
    rules = [f"front matter key {k!r} is set to {v!r}" for k, v in
             (run_input.get("set") or {}).items()]
    rules += [f"key {k!r} is renamed to {v!r}" for k, v in (run_input.get("rename") or {}).items()]
    rules += [f"key {k!r} is removed" for k in run_input.get("delete") or []]
    return rules


async def _review_finish(ctx: AgentContext, _: BaseModel, final: BaseModel) -> BaseModel:
    assert isinstance(final, ReviewVerdict)
    review = Review(verdict=final.verdict, rationale=final.rationale, reviewer=ctx.node_id)
    ctx.artifacts.write_json("review.json", review)
    return review


REVIEW_PEER = AgentSpec(
    name="review.peer", version=VERSION,
    description="reviews a change against its task and gives a pass/fail verdict",
    input_model=ReviewInput, output_model=Review, final_model=ReviewVerdict,
    prompt=REVIEW_PROMPT, limits=Limits(max_steps=3, max_failures=2, max_tokens=160),
    prepare=_review_prepare, finish=_review_finish,
)


# --- merge.gate --------------------------------------------------------------------------


def _gather_reviews(upstream: dict[str, Any], _run_input: dict[str, Any]) -> dict[str, Any]:
    return {"reviews": [v for v in upstream.values() if "verdict" in v]}


async def _merge(ctx: AgentContext, data: BaseModel) -> BaseModel:
    assert isinstance(data, MergeInput)
    if len(data.reviews) < 2:
        raise NodeFailed(f"merge.gate needs two reviews, got {len(data.reviews)}",
                         kind="review_missing")
    window = ctx.extra.get("kappa_window")
    if window is not None:  # a night: reviewers must agree beyond chance to be trusted
        window.add(data.reviews[0].verdict, data.reviews[1].verdict)
        threshold = float(ctx.params.get("kappa_threshold", KAPPA_THRESHOLD))
        if window.ready and window.kappa is not None and window.kappa < threshold:
            raise NodeFailed(
                f"not merged: reviewer agreement κ = {window.kappa:.2f} over the last "
                f"{len(window)} review pairs is below {threshold:g}; the reviewers are not "
                "reliable enough to merge on", kind="kappa_gate",
                hint="look at the reviews in the morning report; raise the threshold only "
                "with care (node param kappa_threshold)")
    rejected = [r for r in data.reviews if r.verdict != "pass"]
    if rejected:
        why = "; ".join(f"{r.reviewer}: {r.rationale}" for r in rejected)
        raise NodeFailed(f"not merged: review rejected the change ({why})",
                         kind="review_rejected")
    branch = f"pantheon/{ctx.run_id}"
    title = ctx.run_input.get("title") or ctx.run_input.get("path") or ctx.run_id
    message = f"{title}\n\nPantheon run {ctx.run_id}\n" + "\n".join(
        f"{r.reviewer}: {r.verdict} - {r.rationale}" for r in data.reviews)
    try:
        sha, files = commit_change(ctx.workspace, branch, message)
    except RunFailure as exc:
        raise NodeFailed(str(exc), kind="merge_failed") from exc
    result = MergeResult(merged=True, branch=branch, commit=sha, files_changed=files,
                         reviews=data.reviews)
    ctx.artifacts.write_json("report.json", result)
    return result


MERGE_GATE = AgentSpec(
    name="merge.gate", version=VERSION,
    description="merges only when both reviews pass: commits on branch pantheon/<run_id>",
    input_model=MergeInput, output_model=MergeResult, run=_merge, gather=_gather_reviews,
)


# --- doc.frontmatter ---------------------------------------------------------------------

# Static first, per-file last: tasks with the same rules share the prompt's prefix, which
# the engine's prefix cache then computes once.
DOC_PROMPT = """\
Edit the front matter of the file with one tool call per reply, then reply final.
"""


def _read_meta(ctx: AgentContext, task: DocTask) -> dict[str, Any]:
    """The file's front matter, parsed once per version of the file (hooks ask often)."""
    path = resolve_in_workspace(ctx.workspace, task.path)
    stat = path.stat()
    stamp = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = ctx.extra.get("front_matter")
    if cached is not None and cached[0] == stamp:
        return dict(cached[1])
    meta, _ = split_front_matter(path.read_text(encoding="utf-8"))
    ctx.extra["front_matter"] = (stamp, meta or {})
    return dict(meta or {})


def _todo_calls(meta: dict[str, Any], task: DocTask) -> list[tuple[str, dict[str, str]]]:
    """The operations still missing, as (tool, args) pairs."""
    calls: list[tuple[str, dict[str, str]]] = []
    for old, new in task.rename.items():
        if old in meta:
            calls.append(("fm_rename", {"key": old, "new_key": new}))
    for key in task.delete:
        if key in meta:
            calls.append(("fm_delete", {"key": key}))
    for key, value in task.set.items():
        if key not in meta or str(meta.get(key)) != value:
            calls.append(("fm_set", {"key": key, "value": value}))
    return calls


def _todo(meta: dict[str, Any], task: DocTask) -> list[str]:
    """The operations still missing, each written as the exact tool call that does it."""
    return [compact_json({"type": "tool", "name": name, "args": args})
            for name, args in _todo_calls(meta, task)]


async def _doc_step_schemas(ctx: AgentContext, data: BaseModel) -> dict[str, Any]:
    """This step's grammar admits only the changes still missing (or final when none is)."""
    assert isinstance(data, DocTask)
    calls = _todo_calls(_read_meta(ctx, data), data)
    step: dict[str, Any] = {name: None for name in DOC_FRONTMATTER.tools}
    if not calls:
        return step  # only the final answer is left
    step["final"] = None
    for name, args in calls:
        if step[name] is not None:
            continue  # one pending call per tool: the first
        schema = _only(ctx.tool(name).args_schema(), *args)
        for field, value in args.items():
            schema = narrow(schema, field, [value])
        step[name] = schema
    return step


FINAL_HINT = '{"type":"final","output":{"summary":"front matter updated"}}'


def _todo_text(path: str, todo: list[str]) -> str:
    steps = todo or [FINAL_HINT]
    return f"NEXT: {steps[0]}" + "".join(f"\nTHEN: {t}" for t in steps[1:]) + f"\nFILE: {path}"


async def _doc_prepare(ctx: AgentContext, data: BaseModel) -> Prepared:
    assert isinstance(data, DocTask)
    try:
        meta = _read_meta(ctx, data)
    except (OSError, WorkspaceError) as exc:
        raise NodeFailed(f"cannot read {data.path}: {exc}", kind="invalid_input") from exc
    if ctx.attempt == 1:
        # the file as the run found it: the finish hook diffs against it in-process
        ctx.extra["original"] = resolve_in_workspace(ctx.workspace, data.path).read_text(
            encoding="utf-8")
    keys = [*meta, *data.set, *data.rename, *data.rename.values(), *data.delete]
    fm_set = _only(ctx.tool("fm_set").args_schema(), "path", "key", "value")
    return Prepared(
        # the file is fixed by the task: the model names keys and values only, and tasks
        # with the same rules share one grammar
        bound_args={name: {"path": data.path} for name in DOC_FRONTMATTER.tools},
        schema_overrides={
            "fm_set": narrow(narrow(fm_set, "key", list(data.set) or keys),
                             "value", list(data.set.values()) or [""]),
            "fm_delete": narrow(ctx.tool("fm_delete").args_schema(), "key",
                                list(data.delete) or keys),
            "fm_rename": narrow(narrow(ctx.tool("fm_rename").args_schema(), "key",
                                       list(data.rename) or keys),
                                "new_key", list(data.rename.values()) or keys),
        },
    )


async def _doc_progress(ctx: AgentContext, data: BaseModel) -> str:
    assert isinstance(data, DocTask)
    return _todo_text(data.path, _todo(_read_meta(ctx, data), data))


async def _doc_finish(ctx: AgentContext, data: BaseModel, final: BaseModel) -> BaseModel:
    assert isinstance(data, DocTask) and isinstance(final, DocFinal)
    meta = _read_meta(ctx, data)
    todo = _todo(meta, data)
    if todo:
        raise CheckFailed(f"the front matter is not done yet: {len(todo)} change(s) left")
    if "original" in ctx.extra:  # one known file changed: no git process needed
        return _file_patch(ctx, data.path, ctx.extra["original"], final.summary)
    return await _patch(ctx, final.summary)


DOC_FRONTMATTER = AgentSpec(
    name="doc.frontmatter", version=VERSION,
    description="edits the YAML front matter of one Markdown file",
    input_model=DocTask, output_model=CodePatch, final_model=DocFinal,
    tools=["fm_set", "fm_delete", "fm_rename"], prompt=DOC_PROMPT,
    # history=0: every step shows the live front matter and the next change instead of
    # past replies, which a small model would otherwise copy
    limits=Limits(max_steps=10, max_failures=5, max_tokens=96, history=0),
    prepare=_doc_prepare, progress=_doc_progress, finish=_doc_finish,
    step_schemas=_doc_step_schemas,
)

BUILTIN_AGENTS = [PLAN_VALIDATE, CODEGEN, TEST_PYTEST, REVIEW_PEER, MERGE_GATE, DOC_FRONTMATTER]
