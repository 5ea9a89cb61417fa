"""YAML front matter of Markdown files: pure helpers and the ``fm_*`` tools.

Front matter is a YAML mapping between a first line ``---`` and the next line that is
``---`` (or ``...``). Only that block is rewritten (``yaml.safe_dump``, key order kept);
the body after it is kept byte for byte, line endings included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from pantheon_engine.atomic import atomic_write_text
from pantheon_engine.errors import ToolFailure
from pantheon_engine.tools.base import Tool, ToolContext
from pantheon_engine.tools.workspace import relative_display, resolve_in_workspace

# libyaml's safe loader and dumper when present (several times faster), else PyYAML's
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_OPEN = "---"
_CLOSE = ("---", "...")


class FrontMatterError(ToolFailure):
    """The front matter is malformed, or an edit cannot apply (missing or duplicate key)."""


def split_front_matter(text: str) -> tuple[dict[str, Any] | None, str]:
    """Split ``text`` into (front matter mapping or None, body).

    ``None`` means the text has no front matter; the body is then the whole text. Raises
    :class:`FrontMatterError` for an unclosed block, invalid YAML or YAML that is not a
    mapping.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != _OPEN:
        return None, text
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n").rstrip() in _CLOSE:
            block = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        raise FrontMatterError("front matter starts with '---' but has no closing '---' line")
    try:
        meta = yaml.load(block, Loader=_LOADER)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date like 2024-02-30
        raise FrontMatterError(f"front matter is not valid YAML: {exc}") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise FrontMatterError(
            f"front matter must be a mapping of keys to values, not {type(meta).__name__}"
        )
    return meta, body


def join_front_matter(meta: dict[str, Any] | None, body: str) -> str:
    """Put ``meta`` back on top of ``body``; ``None`` means no front matter at all."""
    if meta is None:
        return body
    if not meta:
        return f"{_OPEN}\n{_OPEN}\n{body}"
    block = yaml.dump(meta, Dumper=_DUMPER, sort_keys=False, allow_unicode=True,
                      default_flow_style=False)
    return f"{_OPEN}\n{block}{_OPEN}\n{body}"


# --- tools -------------------------------------------------------------------------------


class FmReadArgs(BaseModel):
    path: str = Field(description="Markdown file, relative to the workspace")


class FmReadResult(BaseModel):
    path: str
    found: bool = Field(description="whether the file has front matter")
    meta: dict[str, Any]


class FmSetArgs(BaseModel):
    path: str = Field(description="Markdown file, relative to the workspace")
    key: str = Field(min_length=1)
    value: str
    parse: bool = Field(default=False, description="parse value as YAML (lists, numbers, booleans)")


class FmDeleteArgs(BaseModel):
    path: str = Field(description="Markdown file, relative to the workspace")
    key: str = Field(min_length=1)


class FmRenameArgs(BaseModel):
    path: str = Field(description="Markdown file, relative to the workspace")
    key: str = Field(min_length=1)
    new_key: str = Field(min_length=1)


class FmEditResult(BaseModel):
    path: str
    changed: bool
    keys: list[str] = Field(description="front matter keys after the edit, in order")


def _load(ctx: ToolContext, user_path: str, tool: str) -> tuple[Path, str, dict | None, str]:
    target = resolve_in_workspace(ctx.workspace, user_path)
    shown = relative_display(ctx.workspace, target)
    if not target.is_file():
        raise ToolFailure(f"{tool}: {shown!r} is not an existing file")
    try:
        text = target.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolFailure(f"{tool}: {shown!r} is not UTF-8 text") from exc
    except OSError as exc:
        raise ToolFailure(f"{tool}: cannot read {shown!r}: {exc.strerror or exc}") from exc
    try:
        meta, body = split_front_matter(text)
    except FrontMatterError as exc:
        raise FrontMatterError(f"{tool}: {shown!r}: {exc.message}") from exc
    return target, shown, meta, body


def _save(target: Path, shown: str, meta: dict, body: str, before: dict | None) -> FmEditResult:
    changed = before is None or list(before.items()) != list(meta.items())
    if changed:
        atomic_write_text(target, join_front_matter(meta, body))
    return FmEditResult(path=shown, changed=changed, keys=[str(k) for k in meta])


def _fm_read(ctx: ToolContext, args: FmReadArgs) -> FmReadResult:
    _, shown, meta, _ = _load(ctx, args.path, "fm_read")
    shown_meta = {str(k): v for k, v in (meta or {}).items()}
    return FmReadResult(path=shown, found=meta is not None, meta=shown_meta)


def _fm_set(ctx: ToolContext, args: FmSetArgs) -> FmEditResult:
    target, shown, meta, body = _load(ctx, args.path, "fm_set")
    before = None if meta is None else dict(meta)
    value: Any = args.value
    if args.parse:
        try:
            value = yaml.load(args.value, Loader=_LOADER)
        except (yaml.YAMLError, ValueError) as exc:
            raise ToolFailure(f"fm_set: value is not valid YAML: {exc}") from exc
    updated = dict(meta or {})
    updated[args.key] = value  # an existing key keeps its place
    return _save(target, shown, updated, body, before)


def _fm_delete(ctx: ToolContext, args: FmDeleteArgs) -> FmEditResult:
    target, shown, meta, body = _load(ctx, args.path, "fm_delete")
    if meta is None or args.key not in meta:
        raise FrontMatterError(
            f"fm_delete: {shown!r} has no front matter key {args.key!r}; keys: {list(meta or {})}"
        )
    updated = {k: v for k, v in meta.items() if k != args.key}
    return _save(target, shown, updated, body, meta)


def _fm_rename(ctx: ToolContext, args: FmRenameArgs) -> FmEditResult:
    target, shown, meta, body = _load(ctx, args.path, "fm_rename")
    if meta is None or args.key not in meta:
        raise FrontMatterError(
            f"fm_rename: {shown!r} has no front matter key {args.key!r}; keys: {list(meta or {})}"
        )
    if args.new_key == args.key:
        return FmEditResult(path=shown, changed=False, keys=[str(k) for k in meta])
    if args.new_key in meta:
        raise FrontMatterError(f"fm_rename: {shown!r} already has a key {args.new_key!r}")
    updated = {(args.new_key if k == args.key else k): v for k, v in meta.items()}
    return _save(target, shown, updated, body, meta)


fm_read: Tool[FmReadArgs, FmReadResult] = Tool(
    name="fm_read",
    description="Read the YAML front matter of a Markdown file.",
    args_model=FmReadArgs,
    result_model=FmReadResult,
    fn=_fm_read,
    timeout_s=10.0,
    inline=True,
)

fm_set: Tool[FmSetArgs, FmEditResult] = Tool(
    name="fm_set",
    description="Set a front matter key of a Markdown file (adds front matter if missing).",
    args_model=FmSetArgs,
    result_model=FmEditResult,
    fn=_fm_set,
    timeout_s=10.0,
    inline=True,
)

fm_delete: Tool[FmDeleteArgs, FmEditResult] = Tool(
    name="fm_delete",
    description="Delete a front matter key of a Markdown file.",
    args_model=FmDeleteArgs,
    result_model=FmEditResult,
    fn=_fm_delete,
    timeout_s=10.0,
    inline=True,
)

fm_rename: Tool[FmRenameArgs, FmEditResult] = Tool(
    name="fm_rename",
    description="Rename a front matter key of a Markdown file, keeping its value and place.",
    args_model=FmRenameArgs,
    result_model=FmEditResult,
    fn=_fm_rename,
    timeout_s=10.0,
    inline=True,
)
