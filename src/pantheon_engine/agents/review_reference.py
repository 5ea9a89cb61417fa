"""review.reference: a reviewer that writes its own version of the function from the spec,
and the change passes only when the two agree on the reviewer's inputs.

A small code model is a poor judge of a diff (asked "does this diff do what the task
asks", Qwen2.5-Coder-1.5B failed every good demo change) but a fair writer of small
functions. So this reviewer never sees the code under review: it gets the spec and the
signature of each function the change adds or alters, writes ``expected`` and ``INPUTS``
(what the function must return, on inputs it picks, ordinary and unusual), and
``compare_reference`` calls both in the sandbox. The verdict comes from the first
comparison of each function: the model decides what is right, running the code decides
whether the change agrees, and a reviewer cannot bend its reference to the code after
seeing the code's answers (a compared function leaves the grammar; a second comparison of
it, possible without a grammar, is ignored).
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pantheon_engine.agents.context import AgentContext
from pantheon_engine.agents.io import Review, ReviewInput
from pantheon_engine.agents.spec import AgentSpec, Limits, Prepared
from pantheon_engine.errors import NodeFailed, WorkspaceError
from pantheon_engine.gitops import git
from pantheon_engine.loop.grammar import narrow
from pantheon_engine.tools.reference import CompareResult
from pantheon_engine.tools.workspace import resolve_in_workspace

__all__ = ["REVIEW_REFERENCE", "ChangedFunction", "changed_functions"]

VERSION = "1"

REFERENCE_PROMPT = """\
You review a change by writing your own version of each function under review from the
task. Persona: $persona.
TASK: $task
ACCEPTANCE:
$acceptance_list
UNDER REVIEW (you do not see their code):
$signatures
Call compare_reference once per function under review. Its reference block is Python
that defines:
- expected(...): the function exactly as the TASK describes it, written by you;
- INPUTS: a list of 8 arguments to try ($inputs_hint), each on one short line: the
  acceptance examples and inputs they do not cover (empty, one word, many words, a long
  text written as an expression such as "ab " * 30, leading and trailing spaces, mixed
  case, punctuation).
Do not import the package under review. When every function is compared, reply final
with a short summary.
"""


class ChangedFunction(BaseModel):
    """A top-level function the change adds or alters."""

    name: str
    module: str
    signature: str
    params: int
    new: bool


class ReferenceFinal(BaseModel):
    summary: str = Field(min_length=1, max_length=120)


def _module_name(path: str) -> str | None:
    if not path.endswith(".py"):
        return None
    parts = Path(path).with_suffix("").parts
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def _functions(source: str) -> dict[str, ast.FunctionDef]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _signature(node: ast.FunctionDef) -> str:
    text = f"def {node.name}({ast.unparse(node.args)})"
    return text + (f" -> {ast.unparse(node.returns)}" if node.returns else "")


def changed_functions(workspace: Path, files: list[str]) -> list[ChangedFunction]:
    """The public top-level functions of ``files`` that are new in the working tree or
    differ from the committed version (``HEAD``), in file order."""
    found: list[ChangedFunction] = []
    for rel in files:
        module = _module_name(rel)
        if module is None:
            continue
        try:
            path = resolve_in_workspace(workspace, rel)
        except WorkspaceError:
            continue
        if not path.is_file():
            continue
        now = _functions(path.read_text(encoding="utf-8", errors="replace"))
        # a file new since HEAD: git show fails and prints nothing, so nothing came before
        before = _functions(git(workspace, "show", f"HEAD:./{rel}", check=False))
        for name, node in now.items():
            old = before.get(name)
            if name.startswith("_") or (old is not None and ast.dump(old) == ast.dump(node)):
                continue
            found.append(ChangedFunction(name=name, module=module, signature=_signature(node),
                                         params=len(node.args.args) + len(node.args.posonlyargs),
                                         new=old is None))
    return found


def _compared(ctx: AgentContext) -> dict[str, CompareResult]:
    """Per function, the first finished comparison of this node (its verdict stands)."""
    done: dict[str, CompareResult] = {}
    for call in ctx.extra.get("tool_log") or []:
        if call.name == "compare_reference" and call.ok:
            result = CompareResult.model_validate(call.result)
            done.setdefault(result.function, result)
    return done


async def _prepare(ctx: AgentContext, data: BaseModel) -> Prepared:
    assert isinstance(data, ReviewInput)
    files = [str(f) for f in ctx.run_input.get("files") or []]
    changed = await asyncio.to_thread(changed_functions, ctx.workspace, files)
    if not changed:
        raise NodeFailed("review.reference: the change adds or alters no public function in "
                         f"{', '.join(files) or 'the spec files'}; nothing to compare",
                         kind="nothing_to_review")
    ctx.artifacts.write_json("functions.json", [f.model_dump() for f in changed])
    ctx.extra["reference_functions"] = [f.name for f in changed]
    several = any(f.params != 1 for f in changed)
    scope = ctx.run_input.get("scope")
    schema = ctx.tool("compare_reference").args_schema()
    return Prepared(
        variables={
            "persona": str(ctx.params.get("persona", "careful")),
            "task": str(ctx.run_input.get("title") or data.summary or "a change")
            + (f"\nSCOPE: {scope}" if isinstance(scope, str) and scope else ""),
            "acceptance_list": "\n".join(
                f"- {a}" for a in ctx.run_input.get("acceptance") or []) or "- (none given)",
            "signatures": "\n".join(
                f"{f.signature}  (in {f.module}, {'new' if f.new else 'changed'})"
                for f in changed),
            "inputs_hint": "a tuple of the arguments per input" if several
            else "one argument per input",
        },
        schema_overrides={"compare_reference": narrow(schema, "function",
                                                      [f.name for f in changed])},
        bound_args={"compare_reference": {"targets": {f.name: f.module for f in changed}}},
    )


async def _steps(ctx: AgentContext, data: BaseModel) -> dict[str, dict[str, Any] | None]:
    """``final`` only once every function under review has a finished comparison; the
    tool only for the functions that have none (a first comparison is never redone)."""
    done = _compared(ctx)
    todo = [n for n in ctx.extra.get("reference_functions") or [] if n not in done]
    if not todo:
        return {"compare_reference": None}
    schema = narrow(ctx.tool("compare_reference").args_schema(), "function", todo)
    return {"final": None, "compare_reference": schema}


async def _finish(ctx: AgentContext, _data: BaseModel, final: BaseModel) -> BaseModel:
    done = _compared(ctx)
    names = ctx.extra.get("reference_functions") or []
    missing = [n for n in names if n not in done]
    if missing or not done:  # the grammar keeps final out until then; a replay may not
        raise NodeFailed("review.reference: no comparison was made for "
                         f"{', '.join(missing) or 'any function'}", kind="no_verdict")
    differing = [r for r in done.values() if r.mismatches]
    if differing:
        result = differing[0]
        first = result.mismatches[0]
        rationale = (f"{result.function}: {len(result.mismatches)}/{result.compared} differ, "
                     f"e.g. ({first.input}) gave {first.got}, expected {first.expected}")
    else:
        rationale = "agrees with the reference on " + ", ".join(
            f"{r.function} ({r.compared} inputs)" for r in done.values())
    review = Review(verdict="fail" if differing else "pass", rationale=rationale[:120],
                    reviewer=ctx.node_id)
    ctx.artifacts.write_json("review.json", review)
    ctx.artifacts.write_json("comparisons.json", list(done.values()))
    return review


REVIEW_REFERENCE = AgentSpec(
    name="review.reference", version=VERSION,
    description="reviews a code change by comparing it with its own version written from "
    "the spec, on its own inputs",
    input_model=ReviewInput, output_model=Review, final_model=ReferenceFinal,
    tools=["compare_reference"], prompt=REFERENCE_PROMPT,
    limits=Limits(max_steps=6, max_failures=2, max_tokens=256, retry_temperature=0.7,
                  grammar_max_string=None),
    prepare=_prepare, finish=_finish, step_schemas=_steps,
)
