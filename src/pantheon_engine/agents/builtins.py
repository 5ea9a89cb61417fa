"""The built-in agents: plan.validate, codegen, test.pytest, review.peer, merge.gate,
doc.frontmatter."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from pantheon_engine.agents.context import AgentContext
from pantheon_engine.agents.io import (
    CodegenFinal,
    CodePatch,
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
from pantheon_engine.docops.rules import rule_sentences
from pantheon_engine.errors import NodeFailed, RunFailure, WorkspaceError
from pantheon_engine.gitops import commit_change, has_changes, push_branch
from pantheon_engine.kappa import KAPPA_MIN
from pantheon_engine.loop.grammar import narrow
from pantheon_engine.tools.workspace import resolve_in_workspace

VERSION = "1"
#: the merge gate refuses to merge while reviewer agreement is below this (Cohen's κ);
#: with canaries on, the gate's other thresholds (false-pass rate, canaries needed) are
#: in :mod:`pantheon_engine.night.reviewing.ledger` and node params override them
KAPPA_THRESHOLD = KAPPA_MIN
DIFF_PREVIEW = 3_000


async def _patch(ctx: AgentContext, summary: str) -> CodePatch:
    """The node's change so far (also written to diff.patch)."""
    result = await ctx.call_tool("compute_diff")
    ctx.artifacts.write_text("diff.patch", result.diff)
    return CodePatch(diff=result.diff, files_changed=result.files,
                     lines_added=result.lines_added, lines_removed=result.lines_removed,
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


def _wrote(ctx: AgentContext) -> bool:
    """Whether a ``write_file`` call of this node succeeded."""
    return any(call.name == "write_file" and call.ok for call in ctx.extra.get("tool_log") or [])


async def _codegen_steps(ctx: AgentContext, _plan: BaseModel) -> dict[str, dict[str, Any] | None]:
    """Leave ``final`` out of the grammar until a file was written.

    A final answer before any ``write_file`` cannot pass this agent's own finish check (no
    file changed), so the grammar does not offer it: form, not the answer (what to write is
    still the model's). Measured on HumanEval with Qwen2.5-Coder-0.5B: without this, 20 of
    20 first replies were a final "summary" of the task and every sample failed.
    """
    return {} if _wrote(ctx) else {"final": None}


async def _codegen_finish(ctx: AgentContext, plan: BaseModel, final: BaseModel) -> BaseModel:
    assert isinstance(final, CodegenFinal)
    patch = await _patch(ctx, final.summary)
    if not patch.files_changed:
        raise CheckFailed("no file was changed: write the code with write_file before final")
    if not changes_code(patch.diff):
        raise CheckFailed("the files differ from before only in blank lines and spacing: "
                          "write the code the task asks for with write_file before final")
    return patch


def changes_code(diff: str) -> bool:
    """Whether a unified diff changes any line's text, not only blank lines and spacing.

    A file written back as it was, give or take blank lines or indentation (a model that
    copies the stub it was shown), changes nothing the task asked for.
    """
    added: list[str] = []
    removed: list[str] = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            continue
        if line[:1] in "+-" and line[1:].strip():
            (added if line[0] == "+" else removed).append(" ".join(line[1:].split()))
    return sorted(added) != sorted(removed)


CODEGEN = AgentSpec(
    name="codegen", version=VERSION,
    description="writes the code change a spec asks for",
    input_model=Plan, output_model=CodePatch, final_model=CodegenFinal,
    tools=["read_file", "write_file", "list_dir"],
    prompt=CODEGEN_PROMPT,
    limits=Limits(max_steps=6, max_failures=3, max_tokens=768, grammar_max_string=None),
    prepare=_codegen_prepare, finish=_codegen_finish, step_schemas=_codegen_steps,
)


# --- test.pytest -------------------------------------------------------------------------


def outside_scope(changed: list[str], allowed: list[str]) -> list[str]:
    """The changed files a spec does not let its change write."""
    permitted = set(allowed)
    return [path for path in changed if path not in permitted]


async def _tests(ctx: AgentContext, _: BaseModel) -> BaseModel:
    files = ctx.run_input.get("files")
    if isinstance(files, list):  # a spec's change writes its files and nothing else
        diff = await ctx.call_tool("compute_diff")
        stray = outside_scope(diff.paths, [str(f) for f in files])
        if stray:
            ctx.artifacts.write_json("report.json", {"out_of_scope": stray})
            raise NodeFailed(f"the change writes {', '.join(stray)}, outside the spec's "
                             f"files ({', '.join(map(str, files))})", kind="out_of_scope")
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
    description="runs pytest in the workspace and fails the node when tests fail or a "
    "spec's change writes files the spec does not name",
    input_model=_AnyInput, output_model=TestReport, run=_tests,
    limits=Limits(tool_timeout_s=300), role="check",
)


# --- review.peer -------------------------------------------------------------------------

REVIEW_PROMPT = """\
You review a change. Persona: $persona.
TASK: $task
ACCEPTANCE:
$acceptance_list
FILES the change may write: $file_list
$tests_line
DIFF:
$diff_preview
Reply final with verdict "pass" if the diff does what the task asks, else "fail",
and a short rationale.
"""


async def _review_prepare(ctx: AgentContext, data: BaseModel) -> Prepared:
    assert isinstance(data, ReviewInput)
    acceptance = ctx.run_input.get("acceptance") or _doc_rules(ctx.run_input)
    diff = data.diff if len(data.diff) <= DIFF_PREVIEW else data.diff[:DIFF_PREVIEW] + "\n…"
    scope = ctx.run_input.get("scope")
    tests = "" if data.passed is None else (
        f"TESTS: {'passed' if data.passed else 'FAILED'} ({data.test_summary})")
    return Prepared(variables={
        "persona": str(ctx.params.get("persona", "careful")),
        "task": str(ctx.run_input.get("title") or (
            f"make the front matter of {ctx.run_input['path']} follow the house rules"
            if "path" in ctx.run_input else data.summary or "a change"))
        + (f"\nSCOPE: {scope}" if isinstance(scope, str) and scope else ""),
        "acceptance_list": "\n".join(f"- {a}" for a in acceptance) or "- (none given)",
        "file_list": ", ".join(_review_files(ctx.run_input)) or "(any)",
        "tests_line": tests,
        "diff_preview": diff or "(empty diff)",
    })


def _review_files(run_input: dict[str, Any]) -> list[str]:
    """The files the task lets the change write: a spec's ``files``, a docops task's path."""
    files = run_input.get("files")
    if isinstance(files, list):
        return [str(f) for f in files]
    path = run_input.get("path")
    return [str(path)] if isinstance(path, str) else []


def _doc_rules(run_input: dict[str, Any]) -> list[str]:
    """A docops task's house rules in English (the reviewer checks the diff against them)."""
    if "path" not in run_input:
        return []
    try:
        task = DocTask.model_validate(run_input)
    except ValueError:
        return []
    return rule_sentences(task.rules)


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
    return {"reviews": [v for v in upstream.values() if "verdict" in v],
            "checks": [{"check": v.get("check", "?"),
                        "passed": bool(v.get("check_passed", v.get("passed")))}
                       for v in upstream.values() if "check" in v]}


async def _merge(ctx: AgentContext, data: BaseModel) -> BaseModel:
    assert isinstance(data, MergeInput)
    if not data.checks:
        raise NodeFailed("not merged: no acceptance check ran before the merge gate",
                         kind="check_missing",
                         hint="give merge.gate a check node as an input (check.rules, "
                         "test.pytest)")
    failed_checks = [c.check for c in data.checks if not c.passed]
    if failed_checks:
        raise NodeFailed(f"not merged: check(s) failed: {', '.join(failed_checks)}",
                         kind="check_failed")
    if len(data.reviews) < 2:
        raise NodeFailed(f"merge.gate needs two reviews, got {len(data.reviews)}",
                         kind="review_missing")
    ledger = ctx.extra.get("reviewer_ledger")
    window = ctx.extra.get("kappa_window")
    if ledger is not None:  # a night with canaries: reviewers are trusted as far as measured
        ready = ctx.extra.get("reviewer_ready")
        if ready is not None:  # the flow's calibration canaries, reviewed alongside the run
            await ready
        _reviewer_gate(ctx, data, ledger)
    elif window is not None:  # a night: reviewers must agree beyond chance to be trusted
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
    if not await asyncio.to_thread(has_changes, ctx.workspace):
        # the check passed and the reviewers agreed on a change-free run (a document that
        # already follows its rules): done, with nothing to merge
        unchanged = MergeResult(merged=False, branch="", commit="", files_changed=0,
                                reviews=data.reviews)
        ctx.artifacts.write_json("report.json", unchanged)
        return unchanged
    branch = f"pantheon/{ctx.run_id}"
    title = ctx.run_input.get("title") or ctx.run_input.get("path") or ctx.run_id
    message = f"{title}\n\nPantheon run {ctx.run_id}\n" + "\n".join(
        f"{r.reviewer}: {r.verdict} - {r.rationale}" for r in data.reviews)
    try:
        sha, files = commit_change(ctx.workspace, branch, message)
    except RunFailure as exc:
        raise NodeFailed(str(exc), kind="merge_failed") from exc
    remote = ctx.extra.get("merge_remote")
    if remote:  # several workers: the branch goes where every host and the team see it
        try:
            await asyncio.to_thread(push_branch, ctx.workspace, str(remote), branch, sha)
        except RunFailure as exc:
            raise NodeFailed(str(exc), kind="push_failed") from exc
    result = MergeResult(merged=True, branch=branch, commit=sha, files_changed=files,
                         reviews=data.reviews, remote=str(remote) if remote else None)
    ctx.artifacts.write_json("report.json", result)
    return result


def _reviewer_gate(ctx: AgentContext, data: MergeInput, ledger: Any) -> None:
    """Refuse the merge while a reviewer of it is unmeasured or measured unreliable.

    The pair of verdicts joins the ledger's κ window first (real items count as canaries
    do). Node params ``false_pass_max``, ``kappa_threshold`` and ``min_canaries`` override
    the ledger's defaults. With ``reviewer_kind`` (docs, code) the reviewers are judged by
    their record on that kind of work.
    """
    kind = ctx.extra.get("reviewer_kind")
    ledger.add_pair(data.reviews[0].verdict, data.reviews[1].verdict, kind=kind)
    refs = ctx.extra.get("reviewer_refs") or {}
    params = ctx.params
    problems = ledger.gate_problems(
        {r.reviewer: refs.get(r.reviewer) for r in data.reviews},
        false_pass_max=params.get("false_pass_max"), kappa_min=params.get("kappa_threshold"),
        min_canaries=params.get("min_canaries"), kind=kind)
    if problems:
        raise NodeFailed(
            "not merged: " + "; ".join(problems), kind="reviewer_gate",
            hint="the reviewers are measured on canaries: see reviewers.json and "
            "canaries.jsonl in the night's folder; a reviewer is trusted once its canary "
            "record is good (node params false_pass_max, kappa_threshold, min_canaries)")


MERGE_GATE = AgentSpec(
    name="merge.gate", version=VERSION,
    description="merges only when both reviews pass: commits on branch pantheon/<run_id>",
    input_model=MergeInput, output_model=MergeResult, run=_merge, gather=_gather_reviews,
)


from pantheon_engine.agents.checks import CHECK_RULES  # noqa: E402
from pantheon_engine.agents.docops import DOC_FRONTMATTER  # noqa: E402
from pantheon_engine.agents.review_reference import REVIEW_REFERENCE  # noqa: E402

BUILTIN_AGENTS = [PLAN_VALIDATE, CODEGEN, TEST_PYTEST, REVIEW_PEER, REVIEW_REFERENCE, MERGE_GATE,
                  DOC_FRONTMATTER, CHECK_RULES]
