"""Git plumbing for runs: an isolated worktree per run and the merge gate's commit.

Agents never work in the user's checkout. A run gets a detached ``git worktree`` of the
workspace repository at its HEAD (under ``<artifacts>/worktrees/<run_id>``), so concurrent
runs never collide and the user's files are never touched. The merge gate commits the
run's change there and points the branch ``pantheon/<run_id>`` at it: our pull request.
A folder that is not the top of a git repository is imported once into a git copy under
``<artifacts>/workspaces/`` and runs work on that copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pantheon_engine.errors import RunFailure, WorkspaceError

GIT_IDENTITY = ["-c", "user.name=Pantheon", "-c", "user.email=pantheon@localhost",
                "-c", "commit.gpgsign=false"]
IGNORED_ON_IMPORT = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "*.pyc",
                                           ".ruff_cache", ".venv")


def git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
    )
    if check and proc.returncode != 0:
        raise RunFailure(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def repo_top(folder: Path) -> Path | None:
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.strip()).resolve()


@dataclass
class RunWorkspace:
    source: Path
    repo: Path
    root: Path
    base: str
    imported: bool
    artifacts_root: Path

    def close(self) -> None:
        """Remove the worktree; branches created by the merge gate stay in the repo."""
        with workspaces_lock(self.artifacts_root):
            git(self.repo, "worktree", "remove", "--force", str(self.root), check=False)
            shutil.rmtree(self.root, ignore_errors=True)
            git(self.repo, "worktree", "prune", check=False)


@contextlib.contextmanager
def workspaces_lock(artifacts_root: Path) -> Iterator[None]:
    """Serialise imports and worktree bookkeeping between concurrent runs (and processes)."""
    folder = Path(artifacts_root) / "workspaces"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_run_workspace(source: Path, run_id: str, artifacts_root: Path) -> RunWorkspace:
    with workspaces_lock(artifacts_root):
        return _open_run_workspace(source, run_id, artifacts_root)


def _open_run_workspace(source: Path, run_id: str, artifacts_root: Path) -> RunWorkspace:
    source = Path(source).resolve()
    if not source.is_dir():
        raise WorkspaceError(f"workspace {source} is not a folder")
    imported = repo_top(source) != source
    repo = import_folder(source, artifacts_root) if imported else source
    try:
        base = git(repo, "rev-parse", "--verify", "HEAD")
    except RunFailure as exc:
        raise WorkspaceError(f"workspace repository {repo} has no commit yet",
                             hint="commit something first: agents work on HEAD") from exc
    root = (Path(artifacts_root) / "worktrees" / run_id).resolve()
    root.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", str(root), base)
    return RunWorkspace(source=source, repo=repo, root=root, base=base, imported=imported,
                        artifacts_root=Path(artifacts_root))


def import_folder(source: Path, artifacts_root: Path) -> Path:
    """A git copy of a plain folder, made once and reused (its branches pile up there)."""
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    copy = (Path(artifacts_root) / "workspaces" / f"{source.name}-{digest}").resolve()
    if (copy / ".git").exists():
        return copy
    tmp = copy.with_name(copy.name + ".importing")
    shutil.rmtree(tmp, ignore_errors=True)
    artifacts = Path(artifacts_root).resolve()

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(IGNORED_ON_IMPORT(folder, names))
        # never copy the artifacts folder into itself when it lives inside the workspace
        skipped.update(n for n in names if (Path(folder) / n).resolve() == artifacts)
        return skipped

    shutil.copytree(source, tmp, ignore=ignore)
    git(tmp, "init", "-q", "-b", "main")
    git(tmp, "add", "-A")
    git(tmp, "commit", "-q", "--allow-empty", "-m", f"pantheon: import {source}")
    tmp.rename(copy)
    git(copy, "worktree", "prune", check=False)
    return copy


def has_changes(worktree: Path) -> bool:
    """Whether ``worktree`` differs from its commit (tracked or new files)."""
    return bool(git(worktree, "status", "--porcelain", "--untracked-files=all").strip())


def commit_change(worktree: Path, branch: str, message: str) -> tuple[str, int]:
    """Commit everything changed in ``worktree`` and point ``branch`` at it.

    Returns (commit sha, files changed). Refuses an empty change.
    """
    git(worktree, "add", "-A")
    names = git(worktree, "diff", "--cached", "--name-only").splitlines()
    if not names:
        raise RunFailure("nothing to merge: the run changed no file")
    git(worktree, "commit", "-q", "-m", message)
    sha = git(worktree, "rev-parse", "HEAD")
    git(worktree, "branch", "-f", branch, sha)
    return sha, len(names)


def remote_is_local(remote: str) -> bool:
    """Whether ``remote`` is a folder (a path or a ``file://`` URL): the only remotes a night
    pushes to unless its policy allows the host (a shared mount every worker can reach)."""
    return remote.startswith("file://") or ("://" not in remote and not _scp_like(remote))


def _scp_like(remote: str) -> bool:
    """``user@host:path`` or ``host:path`` (git's scp-like syntax), not ``C:\\path``."""
    head, sep, _ = remote.partition(":")
    return bool(sep) and len(head) > 1 and "/" not in head


def remote_host(remote: str) -> str | None:
    """The host a remote URL names (None for a folder)."""
    if remote_is_local(remote):
        return None
    if "://" in remote:
        rest = remote.split("://", 1)[1]
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        return host.split(":", 1)[0] or None
    return remote.partition(":")[0].rsplit("@", 1)[-1]


def check_remote(remote: str) -> None:
    """Fail before a night starts when ``remote`` does not answer as a git repository."""
    try:
        proc = subprocess.run(["git", "ls-remote", "--heads", remote], capture_output=True,
                              text=True, timeout=60, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"merge remote {remote}: no answer within 60 s",
                             hint="check that every worker reaches it") from None
    if proc.returncode != 0:
        raise WorkspaceError(f"merge remote {remote}: not a git repository that answers "
                             f"({proc.stderr.strip() or 'git ls-remote failed'})",
                             hint="make one that every worker reaches: git init --bare PATH")


def push_branch(worktree: Path, remote: str, branch: str, sha: str) -> None:
    """Push ``sha`` to ``remote`` as ``branch`` (created or moved there only if it is new or
    fast-forwards: a branch someone else moved is never overwritten)."""
    try:
        git(worktree, "push", "--quiet", remote, f"{sha}:refs/heads/{branch}")
    except RunFailure as exc:
        raise RunFailure(f"merged locally as {branch} ({sha[:12]}) but not pushed to "
                         f"{remote}: {exc}") from exc


def file_at_base(worktree: Path, rel: str) -> str | None:
    """The text of ``rel`` in the commit the worktree started from (None if absent there)."""
    proc = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=worktree, capture_output=True,
                          timeout=60)
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace")


def _scratch_git(worktree: Path, index: Path, *args: str) -> str:
    """``git`` in ``worktree`` with a scratch index, so the run's own index is never moved."""
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    proc = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=worktree, capture_output=True,
                          env=env, timeout=120)
    if proc.returncode != 0:
        raise RunFailure(f"git {' '.join(args)} failed in {worktree}: "
                         f"{proc.stderr.decode('utf-8', errors='replace').strip()}")
    return proc.stdout.decode("utf-8", errors="replace")


def snapshot_worktree(worktree: Path) -> str:
    """The tree of every file in ``worktree`` now (tracked, changed and new, not ignored).

    Written with a scratch index into the object store: nothing is committed, no branch
    moves, and ``restore_worktree`` can put the files back exactly.
    """
    with tempfile.TemporaryDirectory(prefix="pantheon-index-") as scratch:
        index = Path(scratch) / "index"
        _scratch_git(worktree, index, "add", "-A")
        return _scratch_git(worktree, index, "write-tree").strip()


def restore_worktree(worktree: Path, tree: str) -> None:
    """Make the files of ``worktree`` those of ``tree`` again: rewrite every file of the
    tree, and delete every new file (not ignored) that the tree does not hold."""
    with tempfile.TemporaryDirectory(prefix="pantheon-index-") as scratch:
        index = Path(scratch) / "index"
        _scratch_git(worktree, index, "read-tree", tree)
        _scratch_git(worktree, index, "checkout-index", "--all", "--force")
        strays = _scratch_git(worktree, index, "ls-files", "--others", "--exclude-standard",
                              "-z").split("\0")
    root = Path(worktree).resolve()
    for rel in filter(None, strays):
        path = root / rel
        path.unlink(missing_ok=True)
        folder = path.parent
        while folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
