"""Workspace confinement: every escape attempt is refused, every inside path resolves inside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pantheon_engine.errors import ToolFailure, WorkspaceError
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.files import list_dir, read_file, write_file
from pantheon_engine.tools.frontmatter import fm_set
from pantheon_engine.tools.workspace import relative_display, resolve_in_workspace


@pytest.fixture()
def layout(tmp_path: Path) -> dict[str, Path]:
    """tmp/ws (the workspace), tmp/ws2 and tmp/ws_evil (sibling prefixes), tmp/outside."""
    ws = tmp_path / "ws"
    outside = tmp_path / "outside"
    (ws / "sub" / "deeper").mkdir(parents=True)
    (ws / "sub" / "file.txt").write_text("inside\n")
    (ws / "sub" / "deeper" / "x.txt").write_text("x\n")
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n")
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text("secret\n")
    for sibling in ("ws2", "ws_evil", "wsx"):
        (tmp_path / sibling).mkdir()
        (tmp_path / sibling / "f.txt").write_text("sibling\n")
    links = {
        "link_out_dir": outside,
        "link_out_file": outside / "secret.txt",
        "chain1": ws / "chain2",
        "chain2": ws / "chain3",
        "chain3": outside,
        "dangling_out": outside / "newfile.txt",
        "link_rel_out": Path("../outside"),
        "link_sibling": Path("../ws2"),
        "inner_link": Path("sub"),
        "abs_link_in": ws / "sub",
        "gitlink": Path(".git"),
        "link_root": Path("/"),
        "link_tmp": tmp_path,
    }
    for name, target in links.items():
        (ws / name).symlink_to(target)
    (ws / "sub" / "out").symlink_to(outside)
    (ws / "sub" / "up").symlink_to(Path(".."))
    (ws / "sub" / "upup").symlink_to(Path("../.."))
    (ws / "sub" / "deeper" / "mid").symlink_to(Path("../../link_out_dir"))
    return {"tmp": tmp_path, "ws": ws, "outside": outside}


LONG_DOTS = "../" * 200 + "etc/passwd"

ESCAPES: list[str] = [
    # '..' chains
    "..",
    "../",
    "../..",
    "../../..",
    "../../../../../../../../../../etc/passwd",
    "../outside",
    "../outside/",
    "../outside/secret.txt",
    "../outside/new.txt",
    "./../outside",
    "./..",
    ".././..",
    "sub/../..",
    "sub/../../outside/secret.txt",
    "sub/deeper/../../..",
    "sub/deeper/../../../outside",
    "sub/./../..",
    "sub//..//..//outside",
    "new/../../outside/x.txt",
    "a/b/c/../../../../x",
    "sub/deeper/../../../../../../etc/shadow",
    LONG_DOTS,
    "..//outside//secret.txt",
    # sibling-prefix folders
    "../ws2",
    "../ws2/f.txt",
    "../ws2/new.txt",
    "../ws_evil/f.txt",
    "../wsx",
    "{ws}2",
    "{ws}2/f.txt",
    "{ws}_evil/f.txt",
    "{ws}x/f.txt",
    "{ws}/../ws2/f.txt",
    "link_sibling",
    "link_sibling/f.txt",
    "link_sibling/new.txt",
    # absolute paths outside
    "/",
    "//",
    "///",
    "/etc",
    "/etc/",
    "/etc/passwd",
    "//etc/passwd",
    "/../etc/passwd",
    "/./etc/passwd",
    "/tmp",
    "/root/.ssh/id_rsa",
    "/dev/null",
    "/proc/self/environ",
    "/proc/self/root/etc/passwd",
    "{tmp}",
    "{tmp}/",
    "{tmp}/outside",
    "{tmp}/outside/secret.txt",
    "{tmp}/outside/new.txt",
    "{ws}/..",
    "{ws}/../outside/secret.txt",
    "{ws}/sub/../../outside",
    # symlinks leading out (file, dir, chains, dangling, in the middle of a path)
    "link_out_dir",
    "link_out_dir/",
    "link_out_dir/secret.txt",
    "link_out_dir/new.txt",
    "link_out_dir/dir",
    "link_out_dir/dir/new/deep.txt",
    "link_out_file",
    "./link_out_file",
    "chain1",
    "chain1/secret.txt",
    "chain2/new.txt",
    "chain3/dir",
    "dangling_out",
    "link_rel_out",
    "link_rel_out/secret.txt",
    "link_root",
    "link_root/etc/passwd",
    "link_tmp",
    "link_tmp/outside/secret.txt",
    "link_tmp/ws2/f.txt",
    "sub/out",
    "sub/out/secret.txt",
    "sub/out/new.txt",
    "sub/upup",
    "sub/upup/outside/secret.txt",
    "sub/up/..",
    "sub/up/../outside",
    "sub/deeper/mid",
    "sub/deeper/mid/secret.txt",
    "inner_link/out/secret.txt",
    "inner_link/up/../outside",
    "{ws}/link_out_file",
    "{ws}/sub/out/secret.txt",
    # NUL bytes
    "\x00",
    "file\x00.txt",
    "sub/file.txt\x00",
    "\x00/../../etc/passwd",
    "sub/\x00/x",
    "../\x00",
    # empty and blank
    "",
    " ",
    "   ",
    # control characters
    "a\nb",
    "sub/\r",
    "tab\there",
    "bell\x07",
    "del\x7f",
    # home-relative
    "~",
    "~/",
    "~/.ssh/id_rsa",
    "~root",
    "~root/.bashrc",
    "~/../../etc/passwd",
    # .git
    ".git",
    ".git/",
    ".git/config",
    ".git/hooks/pre-commit",
    ".git/new_file",
    "./.git/config",
    "sub/../.git/config",
    "sub/.git/x",
    ".GIT/config",
    ".Git",
    "gitlink",
    "gitlink/config",
    "gitlink/hooks/post-checkout",
    "{ws}/.git/HEAD",
    "inner_link/up/.git/config",
    "sub/up/gitlink/config",
    # very long
    "a/" * 3000,
    "x" * 300,
    "sub/" + "y" * 256 + "/z",
    "é" * 200,  # 400 bytes in UTF-8 in one component
]


def _materialise(path: str, layout: dict[str, Path]) -> str:
    return path.replace("{ws}", str(layout["ws"])).replace("{tmp}", str(layout["tmp"]))


def test_escape_case_count() -> None:
    assert len(ESCAPES) >= 100
    assert len(set(ESCAPES)) == len(ESCAPES)


@pytest.mark.parametrize("user_path", ESCAPES)
def test_escape_is_refused(layout: dict[str, Path], user_path: str) -> None:
    path = _materialise(user_path, layout)
    with pytest.raises(WorkspaceError) as info:
        resolve_in_workspace(layout["ws"], path)
    assert repr(path)[:40] in str(info.value), "the message must name the path"


ALLOWED: list[tuple[str, str]] = [
    (".", "."),
    ("./", "."),
    ("sub", "sub"),
    ("sub/", "sub"),
    ("sub/file.txt", "sub/file.txt"),
    ("./sub/file.txt", "sub/file.txt"),
    ("sub//file.txt", "sub/file.txt"),
    ("sub/./file.txt", "sub/file.txt"),
    ("sub/../sub/file.txt", "sub/file.txt"),
    ("sub/deeper/../file.txt", "sub/file.txt"),
    ("new/dir/file.txt", "new/dir/file.txt"),
    ("new/../other.txt", "other.txt"),
    ("{ws}", "."),
    ("{ws}/", "."),
    ("{ws}/sub/file.txt", "sub/file.txt"),
    ("{ws}/sub/../sub/file.txt", "sub/file.txt"),
    ("{ws}/brand_new.txt", "brand_new.txt"),
    ("inner_link/file.txt", "sub/file.txt"),
    ("inner_link", "sub"),
    ("abs_link_in/file.txt", "sub/file.txt"),
    ("sub/up/sub/file.txt", "sub/file.txt"),
    ("sub/up", "."),
    ("%2e%2e/%2e%2e/etc/passwd", "%2e%2e/%2e%2e/etc/passwd"),
    ("..%2f..%2fetc", "..%2f..%2fetc"),
    ("..\\..\\windows", "..\\..\\windows"),
    ("C:\\Windows\\system32", "C:\\Windows\\system32"),
    ("%00", "%00"),
    ("...", "..."),
    ("....", "...."),
    ("..foo", "..foo"),
    ("foo..", "foo.."),
    ("．．/x", "．．/x"),
    ("..\u2215etc", "..\u2215etc"),
    (".gitignore", ".gitignore"),
    (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
    ("git/x", "git/x"),
    ("repo.git/x", "repo.git/x"),
    ("sub/.gitkeep", "sub/.gitkeep"),
    ("a~", "a~"),
    ("x/~/y", "x/~/y"),
    ("name with spaces.md", "name with spaces.md"),
    ("ünïcødé/文件.txt", "ünïcødé/文件.txt"),
    ("z" * 255, "z" * 255),
]


@pytest.mark.parametrize(("user_path", "expected"), ALLOWED)
def test_allowed_resolves_inside(layout: dict[str, Path], user_path: str, expected: str) -> None:
    ws_real = os.path.realpath(layout["ws"])
    resolved = resolve_in_workspace(layout["ws"], _materialise(user_path, layout))
    assert resolved.is_absolute()
    assert os.path.commonpath([ws_real, str(resolved)]) == ws_real
    assert relative_display(layout["ws"], resolved) == expected


def test_workspace_given_through_a_symlink(layout: dict[str, Path]) -> None:
    alias = layout["tmp"] / "alias"
    alias.symlink_to(layout["ws"])
    assert resolve_in_workspace(alias, "sub/file.txt") == (layout["ws"] / "sub/file.txt").resolve()
    assert resolve_in_workspace(alias, f"{alias}/sub/file.txt").name == "file.txt"
    with pytest.raises(WorkspaceError):
        resolve_in_workspace(alias, "../outside")


def test_must_exist(layout: dict[str, Path]) -> None:
    assert resolve_in_workspace(layout["ws"], "sub/file.txt", must_exist=True).is_file()
    with pytest.raises(WorkspaceError, match="does not exist"):
        resolve_in_workspace(layout["ws"], "missing.txt", must_exist=True)


def test_missing_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not an existing folder"):
        resolve_in_workspace(tmp_path / "nope", "a.txt")


def test_non_string_path(layout: dict[str, Path]) -> None:
    with pytest.raises(WorkspaceError):
        resolve_in_workspace(layout["ws"], None)  # type: ignore[arg-type]


def test_reasons_are_specific(layout: dict[str, Path]) -> None:
    ws = layout["ws"]
    cases = {
        "../x": "'..' leads outside",
        "/etc/passwd": "absolute paths outside",
        "link_out_file": "symlink leads outside",
        "a\x00": "NUL byte",
        "": "empty",
        ".git/config": ".git",
        "gitlink/config": ".git",
        "~/x": "home-relative",
    }
    for path, reason in cases.items():
        with pytest.raises(WorkspaceError, match=reason):
            resolve_in_workspace(ws, path)


def test_relative_display_outside_is_shown_as_given(layout: dict[str, Path]) -> None:
    assert relative_display(layout["ws"], layout["outside"]) == str(layout["outside"])
    assert relative_display(layout["ws"], "sub/file.txt") == "sub/file.txt"


# --- the file tools refuse the same paths and never write outside -------------------------


def _snapshot_outside(layout: dict[str, Path]) -> dict[str, bytes]:
    """Every file under tmp except the workspace: content by path."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(layout["tmp"]):
        if Path(dirpath) == layout["ws"]:
            dirnames[:] = []
            continue
        for name in filenames:
            full = Path(dirpath) / name
            found[str(full)] = full.read_bytes()
        found.update({str(Path(dirpath) / d): b"<dir>" for d in dirnames})
    return found


@pytest.mark.parametrize("user_path", ESCAPES)
async def test_write_file_refuses_and_writes_nothing_outside(
    layout: dict[str, Path], user_path: str
) -> None:
    path = _materialise(user_path, layout)
    before = _snapshot_outside(layout)
    git_before = sorted(p.name for p in (layout["ws"] / ".git").rglob("*"))
    ctx = ToolContext(workspace=layout["ws"])
    with pytest.raises(WorkspaceError):
        await write_file.invoke(ctx, {"path": path, "content": "pwned\n"})
    assert _snapshot_outside(layout) == before
    assert sorted(p.name for p in (layout["ws"] / ".git").rglob("*")) == git_before


@pytest.mark.parametrize(
    "user_path",
    [
        "../outside/secret.txt",
        "link_out_file",
        "link_out_dir/secret.txt",
        "chain1/secret.txt",
        "sub/upup/outside/secret.txt",
        "{tmp}/outside/secret.txt",
        ".git/config",
        "gitlink/config",
        "/etc/passwd",
        "../ws2/f.txt",
    ],
)
async def test_read_file_refuses(layout: dict[str, Path], user_path: str) -> None:
    ctx = ToolContext(workspace=layout["ws"])
    with pytest.raises(WorkspaceError):
        await read_file.invoke(ctx, {"path": _materialise(user_path, layout)})


@pytest.mark.parametrize(
    "user_path", ["..", "../outside", "link_out_dir", "sub/out", "/", ".git", "gitlink", "~"]
)
async def test_list_dir_refuses(layout: dict[str, Path], user_path: str) -> None:
    ctx = ToolContext(workspace=layout["ws"])
    with pytest.raises(WorkspaceError):
        await list_dir.invoke(ctx, {"path": user_path})


async def test_fm_set_refuses_symlink_out(layout: dict[str, Path]) -> None:
    target = layout["outside"] / "doc.md"
    target.write_text("body\n")
    ctx = ToolContext(workspace=layout["ws"])
    with pytest.raises(WorkspaceError):
        await fm_set.invoke(ctx, {"path": "link_out_dir/doc.md", "key": "a", "value": "b"})
    assert target.read_text() == "body\n"


async def test_write_through_inside_symlink_lands_inside(layout: dict[str, Path]) -> None:
    ctx = ToolContext(workspace=layout["ws"])
    result = await write_file.invoke(ctx, {"path": "inner_link/new.txt", "content": "ok\n"})
    assert result.path == "sub/new.txt"
    assert (layout["ws"] / "sub" / "new.txt").read_text() == "ok\n"
    assert (layout["ws"] / "inner_link").is_symlink()


async def test_write_under_a_file_fails_cleanly(layout: dict[str, Path]) -> None:
    ctx = ToolContext(workspace=layout["ws"])
    with pytest.raises(ToolFailure, match="is a file"):
        await write_file.invoke(ctx, {"path": "sub/file.txt/child.txt", "content": "x"})
