"""Every built-in tool by name, and the plumbing behind ``pantheon tool call``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pantheon_engine.errors import (
    PantheonError,
    RunFailure,
    ToolArgsError,
    UnknownToolError,
    WorkspaceError,
)
from pantheon_engine.tools.base import Tool, ToolContext
from pantheon_engine.tools.dev import compute_diff, run_lint, run_tests
from pantheon_engine.tools.files import list_dir, read_file, write_file
from pantheon_engine.tools.frontmatter import fm_delete, fm_read, fm_rename, fm_set
from pantheon_engine.tools.reference import compare_reference
from pantheon_engine.tools.workspace import workspace_root

ALL_TOOLS: dict[str, Tool[Any, Any]] = {
    tool.name: tool
    for tool in (
        read_file,
        write_file,
        list_dir,
        fm_read,
        fm_set,
        fm_delete,
        fm_rename,
        compute_diff,
        run_tests,
        run_lint,
        compare_reference,
    )
}


def get_tool(name: str) -> Tool[Any, Any]:
    try:
        return ALL_TOOLS[name]
    except KeyError:
        known = ", ".join(sorted(ALL_TOOLS))
        raise UnknownToolError(f"unknown tool {name!r}; known tools: {known}") from None


def tool_specs(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Name, description and JSON schema of the arguments of each tool (for prompts)."""
    chosen = [get_tool(n) for n in names] if names is not None else list(ALL_TOOLS.values())
    return [{"name": t.name, "description": t.description, "args": t.args_schema()} for t in chosen]


async def call_tool(
    name: str, workspace: Path, args: dict[str, Any], ctx: ToolContext | None = None
) -> dict[str, Any]:
    """Run one tool in ``workspace`` and return its result as a JSON-able dict.

    ``workspace`` wins over ``ctx.workspace`` when both are given; the rest of ``ctx``
    (environment, sandbox prefix, caps) is kept.
    """
    tool = get_tool(name)
    root = workspace_root(workspace)
    ctx = ToolContext(workspace=root) if ctx is None else dataclasses.replace(ctx, workspace=root)
    result: BaseModel = await tool.invoke(ctx, args)
    return result.model_dump(mode="json")


def error_kind(exc: BaseException) -> str:
    """A short, stable name for an error, as the tool loop counts failures."""
    if isinstance(exc, WorkspaceError):
        return "workspace"
    if isinstance(exc, ToolArgsError):
        return "schema"
    if isinstance(exc, UnknownToolError):
        return "unknown_tool"
    if isinstance(exc, RunFailure):
        return exc.kind
    return "error"


def tool_call_cli(name: str, workspace: Path, args_json: str) -> tuple[int, str]:
    """Back ``pantheon tool call NAME --workspace DIR --args JSON``: (exit code, JSON text).

    Success is exit 0 and ``{"ok": true, "tool", "result"}``; any failure is a non-zero
    exit (the error's ``exit_code``) and ``{"ok": false, "tool", "error": {kind, message}}``.
    Uses ``asyncio.run``, so call it from synchronous code only.
    """
    try:
        try:
            args = json.loads(args_json) if args_json.strip() else {}
        except json.JSONDecodeError as exc:
            raise ToolArgsError(f"--args is not valid JSON: {exc}") from exc
        if not isinstance(args, dict):
            raise ToolArgsError(f"--args must be a JSON object, not {type(args).__name__}")
        result = asyncio.run(call_tool(name, Path(workspace), args))
    except PantheonError as exc:
        error = {"kind": error_kind(exc), "message": str(exc)}
        body = {"ok": False, "tool": name, "error": error}
        return exc.exit_code or 1, json.dumps(body, ensure_ascii=False, indent=2)
    except OSError as exc:  # a tool let an OS error through: still answer in JSON
        error = {"kind": "tool_error", "message": f"{name}: {exc}"}
        body = {"ok": False, "tool": name, "error": error}
        return 1, json.dumps(body, ensure_ascii=False, indent=2)
    body = {"ok": True, "tool": name, "result": result}
    return 0, json.dumps(body, ensure_ascii=False, indent=2)
