"""check.rules: the independent acceptance check of a docops change.

It grades the file in the run's worktree against the task's rules with
:mod:`pantheon_engine.docops.check` (its own parser, not the agent's tools), comparing
with the file as the run's base commit has it. A change that does not meet the rules
fails the node (``check_failed``): the flow stops there and nothing is merged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pantheon_engine.agents.context import AgentContext
from pantheon_engine.agents.io import DocTask, RulesCheck
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.docops.check import check_document
from pantheon_engine.errors import NodeFailed, WorkspaceError
from pantheon_engine.gitops import file_at_base
from pantheon_engine.tools.workspace import resolve_in_workspace

VERSION = "1"


class _Upstream(BaseModel):
    model_config = {"extra": "allow"}


async def _check(ctx: AgentContext, data: BaseModel) -> BaseModel:
    try:
        task = DocTask.model_validate(ctx.run_input)
    except ValueError as exc:
        raise NodeFailed(f"check.rules needs a docops task as the run input: {exc}",
                         kind="invalid_input") from exc
    try:
        after = resolve_in_workspace(ctx.workspace, task.path).read_text(encoding="utf-8")
    except (OSError, WorkspaceError, UnicodeDecodeError) as exc:
        raise NodeFailed(f"cannot read {task.path}: {exc}", kind="check_failed") from exc
    before = file_at_base(ctx.workspace, task.path)
    report = check_document(after, task.rules, before)
    patch: dict[str, Any] = data.model_dump() if data is not None else {}
    ctx.artifacts.write_json("report.json", {"path": task.path, **report.model_dump()})
    met = sum(r.ok for r in report.rules)
    result = RulesCheck(check_passed=report.passed, rules_met=met, rules_total=len(report.rules),
                        failed=report.failed_labels, diff=str(patch.get("diff", "")),
                        summary=str(patch.get("summary", "")))
    if not report.passed:
        why = [f"{r.label} ({r.detail})" for r in report.rules if not r.ok]
        why += report.broken + ([report.error] if report.error else [])
        raise NodeFailed(f"{task.path}: {met} of {len(report.rules)} rules met; "
                         + "; ".join(why), kind="check_failed")
    return result


CHECK_RULES = AgentSpec(
    name="check.rules", version=VERSION,
    description="decides from the resulting file alone whether a docops change meets its rules",
    input_model=_Upstream, output_model=RulesCheck, run=_check, role="check",
)
