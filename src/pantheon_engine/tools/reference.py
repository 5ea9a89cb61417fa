"""``compare_reference``: run a function of the workspace beside a reference written from
its spec, on the reference's own inputs (differential testing).

A reviewer writes ``expected`` (what the spec says the function does) and ``INPUTS`` (the
arguments to try) without seeing the code under review; this tool imports the function
from the workspace and calls both on every input in the night's sandbox, and reports where
they differ. The reviewer decides what is right (its reference and its inputs); running
the two decides whether the change agrees.

The reference must stand on its own: it may not import the package under review or name
the function it is compared with (it would then agree with anything).
"""

from __future__ import annotations

import ast
import json
import sys

from pydantic import BaseModel, Field

from pantheon_engine.errors import ToolFailure
from pantheon_engine.tools.base import Tool, ToolContext
from pantheon_engine.tools.procs import run_process
from pantheon_engine.tools.workspace import workspace_root

__all__ = ["MIN_INPUTS", "CompareArgs", "CompareResult", "Mismatch", "compare_reference"]

#: a reference is refused with fewer usable inputs than this (it would check next to nothing)
MIN_INPUTS = 3
MAX_INPUTS = 40
COMPARE_TIMEOUT_S = 20.0
_MARK = "PANTHEON-COMPARE "
_REPR_CAP = 200

# Runs in the workspace, in the sandbox: argv[1] is the JSON of {module, function,
# reference}. Prints one marked JSON line: {"error": ...} for a reference that cannot be
# used, else {"rows": [[input, expected, got, same], ...], "skipped": n}.
_HARNESS = r'''
import copy, importlib, inspect, json, sys
MARK, CAP = sys.argv[2], int(sys.argv[3])
job = json.loads(sys.argv[1])
def out(obj):
    print(MARK + json.dumps(obj)); sys.exit(0)
def show(value):
    text = repr(value)
    return text if len(text) <= CAP else text[:CAP] + "..."
ns = {"__name__": "reference"}
try:
    exec(compile(job["reference"], "<reference>", "exec"), ns)
except BaseException as exc:
    out({"error": f"the reference does not run: {type(exc).__name__}: {exc}"})
expected, inputs = ns.get("expected"), ns.get("INPUTS")
if not callable(expected):
    out({"error": "the reference defines no function named expected (write def expected(...): "
                  "your own version of " + job["function"] + ")"})
if not isinstance(inputs, (list, tuple)):
    out({"error": "the reference defines no list named INPUTS"})
try:
    module = importlib.import_module(job["module"])
except BaseException as exc:
    out({"error": f"cannot import {job['module']}: {type(exc).__name__}: {exc}",
         "target": True})
target = getattr(module, job["function"], None)
if not callable(target):
    out({"error": f"{job['module']} has no function {job['function']}", "target": True})
try:
    arity = len(inspect.signature(target).parameters)
except (TypeError, ValueError):
    arity = 1
def call(fn, args):
    try:
        return True, fn(*copy.deepcopy(args))
    except BaseException as exc:
        return False, type(exc).__name__
rows, skipped = [], 0
for item in list(inputs)[:int(job["max_inputs"])]:
    args = tuple(item) if arity != 1 and isinstance(item, (list, tuple)) else (item,)
    ok_e, want = call(expected, args)
    if not ok_e:
        skipped += 1
        continue
    ok_t, got = call(target, args)
    try:
        same = ok_t and bool(got == want) and type(got) is type(want)
    except BaseException:
        same = False
    rows.append([show(item), show(want), show(got) if ok_t else f"raised {got}", same])
out({"rows": rows, "skipped": skipped})
'''


class CompareArgs(BaseModel):
    function: str = Field(description="the function under review")
    reference: str = Field(
        description="Python source defining expected(...) (what the spec says the function "
        "does, written from the spec) and INPUTS (a list of arguments to try; a tuple per "
        "input when the function takes several)")
    #: function name -> module it lives in (bound by the reviewing agent)
    targets: dict[str, str] = Field(default_factory=dict)


class Mismatch(BaseModel):
    input: str
    expected: str
    got: str


class CompareResult(BaseModel):
    function: str
    compared: int
    #: inputs on which the reference itself raised (it gives no value there)
    skipped: int
    mismatches: list[Mismatch]

    @property
    def agrees(self) -> bool:
        return not self.mismatches


def reference_problems(source: str, function: str, module: str) -> list[str]:
    """Why ``source`` cannot serve as an independent reference for ``module.function``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"the reference is not valid Python: line {exc.lineno}: {exc.msg}"]
    package = module.split(".")[0]
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            if any(n.split(".")[0] == package for n in names):
                problems.append(f"the reference imports {package}, the code under review; "
                                "write it from the spec alone")
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name == function:
                problems.append(f"the reference names {function}, the function under "
                                "review; write expected() from the spec alone")
    return sorted(set(problems))


async def _compare(ctx: ToolContext, args: CompareArgs) -> CompareResult:
    module = args.targets.get(args.function)
    if module is None:
        known = ", ".join(sorted(args.targets)) or "none"
        raise ToolFailure(f"compare_reference: {args.function!r} is not a function under "
                          f"review (these are: {known})")
    problems = reference_problems(args.reference, args.function, module)
    if problems:
        raise ToolFailure("compare_reference: " + "; ".join(problems))
    job = {"module": module, "function": args.function, "reference": args.reference,
           "max_inputs": MAX_INPUTS}
    env = dict(ctx.env)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep __pycache__ out of the workspace diff
    env.pop("PYTHONSAFEPATH", None)  # ``-c`` must put the workspace on sys.path
    res = await run_process(
        [sys.executable, "-c", _HARNESS, json.dumps(job), _MARK, str(_REPR_CAP)],
        cwd=workspace_root(ctx.workspace), env=env,
        timeout_s=COMPARE_TIMEOUT_S * ctx.timeout_scale, output_cap=ctx.output_cap,
        command_prefix=ctx.command_prefix)
    report = _report(res.output)
    if report is None:
        raise ToolFailure("compare_reference: the comparison did not finish "
                          f"(exit {res.returncode}): {res.output[-600:]}")
    if "error" in report:
        raise ToolFailure(f"compare_reference: {report['error']}")
    rows = report["rows"]
    if len(rows) < MIN_INPUTS:
        raise ToolFailure(
            f"compare_reference: only {len(rows)} input(s) could be compared "
            f"({report['skipped']} made the reference raise); give INPUTS at least "
            f"{MIN_INPUTS} arguments the spec defines a value for")
    return CompareResult(
        function=args.function, compared=len(rows), skipped=int(report["skipped"]),
        mismatches=[Mismatch(input=i, expected=e, got=g) for i, e, g, same in rows
                    if not same])


def _report(output: str) -> dict | None:
    for line in reversed(output.splitlines()):
        if line.startswith(_MARK):
            try:
                value = json.loads(line[len(_MARK):])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


compare_reference: Tool[CompareArgs, CompareResult] = Tool(
    name="compare_reference",
    description="Call a function under review and your reference expected() on every "
    "input in INPUTS, and list where they differ.",
    args_model=CompareArgs,
    result_model=CompareResult,
    fn=_compare,
    timeout_s=COMPARE_TIMEOUT_S + 5.0,
    block_arg="reference",
)
