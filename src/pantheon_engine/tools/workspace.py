"""Confine a user- or model-supplied path to one workspace folder.

The rule: resolve the *real* path (every symlink followed, ``..`` applied physically, the
missing tail kept as written) and require it to lie inside the real path of the workspace,
compared with :func:`os.path.commonpath` on whole components. ``str.startswith`` would let
``/a/ws2`` pass for the workspace ``/a/ws``; lexical normalisation alone would let a
symlink inside the workspace lead outside.

Paths into ``.git`` are refused too: a model that can rewrite hooks or config can run code
outside every other guard.

This checks a path at one moment. Tools must use the returned path (never the user's
string) so that what was checked is what gets opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from pantheon_engine.errors import WorkspaceError

MAX_PATH_CHARS = 4096
MAX_NAME_BYTES = 255
_SHOW_CHARS = 120


def _show(user_path: str) -> str:
    """The path as it appears in error messages: quoted, escaped, shortened."""
    short = user_path if len(user_path) <= _SHOW_CHARS else user_path[:_SHOW_CHARS] + "…"
    return repr(short)


def _refuse(user_path: str, why: str) -> WorkspaceError:
    return WorkspaceError(f"path {_show(user_path)} refused: {why}")


def _inside(root: str, candidate: str) -> bool:
    try:
        return os.path.commonpath([root, candidate]) == root
    except ValueError:  # mixed absolute/relative: cannot be inside
        return False


def _is_git_part(part: str) -> bool:
    return part.casefold() == ".git"


def _check_text(user_path: str) -> None:
    if not isinstance(user_path, str):
        raise WorkspaceError(f"path must be a string, got {type(user_path).__name__}")
    if "\x00" in user_path:
        raise _refuse(user_path, "it contains a NUL byte")
    if not user_path.strip():
        raise _refuse(user_path, "the path is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in user_path):
        raise _refuse(user_path, "it contains control characters")
    if len(user_path) > MAX_PATH_CHARS:
        raise _refuse(user_path, f"it is longer than {MAX_PATH_CHARS} characters")
    if user_path.startswith("~"):
        raise _refuse(user_path, "home-relative paths (~) are not allowed; use a workspace path")
    for part in user_path.split("/"):
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise _refuse(user_path, f"a path component is longer than {MAX_NAME_BYTES} bytes")
        if _is_git_part(part):
            raise _refuse(user_path, "paths into .git are not allowed")


def workspace_root(workspace: Path | str) -> Path:
    """The real path of the workspace; it must exist and be a folder."""
    root = os.path.realpath(os.fspath(workspace))
    if not os.path.isdir(root):
        raise WorkspaceError(f"workspace {os.fspath(workspace)!r} is not an existing folder")
    return Path(root)


def resolve_in_workspace(workspace: Path, user_path: str, *, must_exist: bool = False) -> Path:
    """Return the real absolute path of ``user_path`` if it lies inside ``workspace``.

    Relative paths are taken from the workspace; absolute paths are allowed only when they
    point inside it. Raises :class:`WorkspaceError`, naming the path and the reason, for NUL
    bytes, an empty path, control characters, ``~``, ``..`` or symlinks that lead out,
    absolute paths elsewhere, and anything inside ``.git``.
    """
    _check_text(user_path)
    root = str(workspace_root(workspace))
    raw = os.path.join(root, user_path)  # an absolute user_path replaces root here
    # realpath follows every existing symlink (dangling ones too) and applies ``..`` after
    # resolving what precedes it; the part that does not exist yet is kept as written.
    real = os.path.realpath(raw)
    if not _inside(root, real):
        why = "it resolves outside the workspace"
        if os.path.isabs(user_path) and not _inside(root, os.path.normpath(user_path)):
            why = "absolute paths outside the workspace are not allowed"
        elif ".." in user_path.split("/"):
            why = "'..' leads outside the workspace"
        elif real != os.path.normpath(raw):
            why = "a symlink leads outside the workspace"
        raise _refuse(user_path, f"{why} ({root})")
    rel = os.path.relpath(real, root)
    if any(_is_git_part(part) for part in rel.split(os.sep)):
        raise _refuse(user_path, "it resolves into .git, which is not allowed")
    if must_exist and not os.path.lexists(real):
        raise _refuse(user_path, "it does not exist")
    return Path(real)


def relative_display(workspace: Path, path: Path | str) -> str:
    """``path`` relative to the workspace, POSIX style (``.`` for the root itself).

    A path outside the workspace is shown as given (absolute); this is display only.
    """
    root = os.path.realpath(os.fspath(workspace))
    target = os.fspath(path)
    if not os.path.isabs(target):
        target = os.path.join(root, target)
    real = os.path.realpath(target)
    if not _inside(root, real):
        return os.fspath(path)
    rel = os.path.relpath(real, root)
    return Path(rel).as_posix()
