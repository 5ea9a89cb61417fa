"""doc.frontmatter: the model reads house rules and decides the front-matter edits itself.

Nothing here tells the model the answer. The prompt gives the rules in English, the file's
front matter as it is now and the start of its body, and the edits made so far; the
grammar keeps each reply a valid call of a real tool with bounded strings (one grammar
shared by every task, so the engine compiles it once). Whether the result meets the
rules is decided afterwards, by ``check.rules``, in code that is not the agent's.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import BaseModel

from pantheon_engine.agents.context import AgentContext
from pantheon_engine.agents.io import CodePatch, DocFinal, DocTask
from pantheon_engine.agents.spec import AgentSpec, Limits, Prepared
from pantheon_engine.docops.rules import rules_text
from pantheon_engine.errors import NodeFailed, WorkspaceError
from pantheon_engine.loop.grammar import compact_json
from pantheon_engine.tools.frontmatter import FrontMatterError, split_front_matter
from pantheon_engine.tools.workspace import resolve_in_workspace

VERSION = "1"
KEY_MAX = 40
VALUE_MAX = 80
BODY_PREVIEW_LINES = 4

# Static first, per-file last: tasks with the same rules share the prompt's prefix, which
# the engine's prefix cache then computes once. The example edits a key no built-in rule
# names, so it shows the reply format without hinting at any task's answer.
DOC_PROMPT = """\
Make the front matter of one Markdown file follow the HOUSE RULES.
Change only what a rule requires. One tool call per reply.
Example reply (another file): {"type":"tool","name":"fm_delete","args":{"key":"example_key"}}
Lists: fm_set with "parse":true and a YAML value such as "[a, b]".
When the front matter follows every rule, reply {"type":"final","output":{"summary":"..."}}.
HOUSE RULES:
$rules_text
"""


def _key(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": KEY_MAX, "description": description}


#: the argument shapes the model may use (``path`` is bound to the task's file)
STEP_SCHEMAS: dict[str, dict[str, Any]] = {
    "fm_set": {"type": "object", "properties": {
        "key": _key("front matter key"),
        "value": {"type": "string", "maxLength": VALUE_MAX},
        "parse": {"type": "boolean"}}, "required": ["key", "value"]},
    "fm_delete": {"type": "object", "properties": {"key": _key("existing key")},
                  "required": ["key"]},
    "fm_rename": {"type": "object", "properties": {
        "key": _key("existing key"), "new_key": _key("new name")},
        "required": ["key", "new_key"]},
}


def _text(ctx: AgentContext, task: DocTask) -> str:
    try:
        return resolve_in_workspace(ctx.workspace, task.path).read_text(encoding="utf-8")
    except (OSError, WorkspaceError, UnicodeDecodeError) as exc:
        raise NodeFailed(f"cannot read {task.path}: {exc}", kind="invalid_input") from exc


def state_text(text: str, path: str, done: list[str]) -> str:
    """The file as it is now: its front matter, the start of its body, the edits so far."""
    try:
        meta, body = split_front_matter(text)
    except FrontMatterError as exc:
        return f"FILE {path}: front matter unreadable ({exc.message})"
    lines = [f"FILE {path}", "FRONT MATTER NOW:"]
    if meta:
        lines += [f"{key}: {_shown(value)}" for key, value in meta.items()]
    else:
        lines.append("(none)")
    preview = [line for line in body.splitlines() if line.strip()][:BODY_PREVIEW_LINES]
    lines += ["BODY STARTS:", *preview]
    lines.append("EDITS SO FAR: " + ("; ".join(done) if done else "none"))
    return "\n".join(lines)


def _shown(value: Any) -> str:
    """A front matter value as compact JSON (dates and other YAML scalars as text)."""
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def _done(ctx: AgentContext) -> list[str]:
    calls = ctx.extra.get("tool_log") or []
    return [f"{c.name} {compact_json({k: v for k, v in c.args.items() if k != 'path'})}"
            + ("" if c.ok else " (error)") for c in calls][-6:]


async def _prepare(ctx: AgentContext, data: BaseModel) -> Prepared:
    assert isinstance(data, DocTask)
    text = _text(ctx, data)
    if ctx.attempt == 1:  # the file as the run found it: finish diffs against it
        ctx.extra["original"] = text
    return Prepared(
        variables={"rules_text": rules_text(data.rules)},
        bound_args={name: {"path": data.path} for name in DOC_FRONTMATTER.tools},
        schema_overrides={name: {**schema, "properties": {
            "path": {"type": "string"}, **schema["properties"]}}
            for name, schema in STEP_SCHEMAS.items()},
    )


async def _progress(ctx: AgentContext, data: BaseModel) -> str:
    assert isinstance(data, DocTask)
    return state_text(_text(ctx, data), data.path, _done(ctx))


def file_patch(ctx: AgentContext, rel: str, before: str, summary: str) -> CodePatch:
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


async def _finish(ctx: AgentContext, data: BaseModel, final: BaseModel) -> BaseModel:
    """The change as it stands: whether it meets the rules is check.rules' decision."""
    assert isinstance(data, DocTask) and isinstance(final, DocFinal)
    before = ctx.extra.get("original")
    if before is None:
        from pantheon_engine.gitops import file_at_base

        before = file_at_base(ctx.workspace, data.path) or ""
    return file_patch(ctx, data.path, before, final.summary)


DOC_FRONTMATTER = AgentSpec(
    name="doc.frontmatter", version=VERSION,
    description="edits the YAML front matter of one Markdown file to follow house rules",
    input_model=DocTask, output_model=CodePatch, final_model=DocFinal,
    tools=["fm_set", "fm_delete", "fm_rename"], prompt=DOC_PROMPT,
    # history=0: every step shows the live front matter and the edits so far instead of
    # past replies, which a small model would otherwise copy
    limits=Limits(max_steps=8, max_failures=4, max_tokens=96, history=0),
    prepare=_prepare, progress=_progress, finish=_finish, check="check.rules",
)
