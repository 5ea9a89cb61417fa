"""File tools confined to the workspace: ``read_file``, ``write_file``, ``list_dir``.

Every path goes through :func:`resolve_in_workspace`; the tools only ever touch the path
it returns. Argument names are short because small models have to type them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from pantheon_engine.atomic import atomic_write_text
from pantheon_engine.errors import ToolFailure
from pantheon_engine.tools.base import Tool, ToolContext
from pantheon_engine.tools.workspace import (
    relative_display,
    resolve_in_workspace,
    workspace_root,
)

MAX_LIST_ENTRIES = 1000


# --- read_file ---------------------------------------------------------------------------


class ReadFileArgs(BaseModel):
    path: str = Field(description="file path, relative to the workspace")
    max_bytes: int | None = Field(
        default=None, ge=1, description="read at most this many bytes (default: output cap)"
    )


class ReadFileResult(BaseModel):
    path: str
    content: str
    truncated: bool
    bytes: int = Field(description="size of the whole file in bytes")


def _read_file(ctx: ToolContext, args: ReadFileArgs) -> ReadFileResult:
    target = resolve_in_workspace(ctx.workspace, args.path)
    shown = relative_display(ctx.workspace, target)
    if target.is_dir():
        raise ToolFailure(f"read_file: {shown!r} is a folder; use list_dir")
    if not target.is_file():
        raise ToolFailure(f"read_file: {shown!r} does not exist")
    limit = args.max_bytes or ctx.output_cap
    try:
        size = target.stat().st_size
        with target.open("rb") as handle:
            data = handle.read(limit)
    except OSError as exc:
        raise ToolFailure(f"read_file: cannot read {shown!r}: {exc.strerror or exc}") from exc
    if b"\x00" in data[:8192]:
        raise ToolFailure(f"read_file: {shown!r} looks like a binary file ({size} bytes)")
    return ReadFileResult(
        path=shown,
        content=data.decode("utf-8", "replace"),
        truncated=size > len(data),
        bytes=size,
    )


read_file: Tool[ReadFileArgs, ReadFileResult] = Tool(
    name="read_file",
    description="Read a text file from the workspace.",
    args_model=ReadFileArgs,
    result_model=ReadFileResult,
    fn=_read_file,
    timeout_s=10.0,
    inline=True,
)


# --- write_file --------------------------------------------------------------------------


class WriteFileArgs(BaseModel):
    path: str = Field(description="file path, relative to the workspace")
    content: str = Field(description="the whole new file content")


class WriteFileResult(BaseModel):
    path: str
    bytes: int
    created: bool


def _write_file(ctx: ToolContext, args: WriteFileArgs) -> WriteFileResult:
    target = resolve_in_workspace(ctx.workspace, args.path)
    shown = relative_display(ctx.workspace, target)
    if target.is_dir():
        raise ToolFailure(f"write_file: {shown!r} is a folder")
    root = workspace_root(ctx.workspace)
    if target == root:
        raise ToolFailure("write_file: cannot write to the workspace folder itself")
    created = not target.exists()
    # ``target`` is a real path, so its existing parents hold no symlinks; a file standing
    # where a folder must go fails here with a clear message instead of an OSError.
    for parent in reversed(target.relative_to(root).parents):
        folder = root / parent
        if folder.exists() and not folder.is_dir():
            raise ToolFailure(f"write_file: {parent.as_posix()!r} is a file, not a folder")
    try:
        atomic_write_text(target, args.content)
    except OSError as exc:
        raise ToolFailure(f"write_file: cannot write {shown!r}: {exc.strerror or exc}") from exc
    return WriteFileResult(path=shown, bytes=len(args.content.encode("utf-8")), created=created)


write_file: Tool[WriteFileArgs, WriteFileResult] = Tool(
    name="write_file",
    description="Write a whole text file in the workspace (creates folders as needed).",
    args_model=WriteFileArgs,
    result_model=WriteFileResult,
    fn=_write_file,
    timeout_s=10.0,
    inline=True,
    block_arg="content",
)


# --- list_dir ----------------------------------------------------------------------------


class ListDirArgs(BaseModel):
    path: str = Field(default=".", description="folder path, relative to the workspace")


class DirEntry(BaseModel):
    name: str
    kind: Literal["file", "dir", "link", "other"]
    size: int


class ListDirResult(BaseModel):
    path: str
    entries: list[DirEntry]
    truncated: bool = False


def _kind(mode: int) -> Literal["file", "dir", "link", "other"]:
    if stat.S_ISLNK(mode):
        return "link"  # not followed: the target may lie outside the workspace
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def _list_dir(ctx: ToolContext, args: ListDirArgs) -> ListDirResult:
    target = resolve_in_workspace(ctx.workspace, args.path)
    shown = relative_display(ctx.workspace, target)
    if not target.is_dir():
        what = "is a file; use read_file" if target.exists() else "does not exist"
        raise ToolFailure(f"list_dir: {shown!r} {what}")
    try:
        entries = _scan(target)
    except OSError as exc:
        raise ToolFailure(f"list_dir: cannot list {shown!r}: {exc.strerror or exc}") from exc
    entries.sort(key=lambda e: (e.kind != "dir", e.name))
    truncated = len(entries) > MAX_LIST_ENTRIES
    return ListDirResult(path=shown, entries=entries[:MAX_LIST_ENTRIES], truncated=truncated)


def _scan(target: Path) -> list[DirEntry]:
    entries: list[DirEntry] = []
    with os.scandir(target) as scan:
        for item in scan:
            if item.name.casefold() == ".git":
                continue
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue
            kind = _kind(info.st_mode)
            entries.append(
                DirEntry(name=item.name, kind=kind, size=info.st_size if kind == "file" else 0)
            )
    return entries


list_dir: Tool[ListDirArgs, ListDirResult] = Tool(
    name="list_dir",
    description="List a folder of the workspace (folders first; .git hidden).",
    args_model=ListDirArgs,
    result_model=ListDirResult,
    fn=_list_dir,
    timeout_s=10.0,
    inline=True,
)
