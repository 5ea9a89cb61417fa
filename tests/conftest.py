"""Shared fixtures: temporary git workspaces and the replay engine helpers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pantheon_engine.flows_builtin import BUILTIN_DIR

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FLOWS = BUILTIN_DIR  # the built-in flows (docops, spec2code) ship inside the package


def git_repo(folder: Path) -> Path:
    """Turn ``folder`` into a git repository with one commit of its content."""
    ident = ["-c", "user.name=test", "-c", "user.email=test@localhost",
             "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True)
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", *ident, "commit", "-q", "--allow-empty", "-m", "init"],
                   cwd=folder, check=True)
    return folder


@pytest.fixture
def docops_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "docs-repo"
    shutil.copytree(EXAMPLES / "docops" / "workspace", repo)
    return git_repo(repo)


@pytest.fixture
def spec_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "code-repo"
    shutil.copytree(EXAMPLES / "spec2code" / "workspace", repo)
    return git_repo(repo)


@pytest.fixture(autouse=True)
def _small_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that needs a real model runs the small one unless it names another: the
    default (1.5B) loads in 11 s and writes 16 tokens/s on two cores."""
    from pantheon_engine.config import MODEL_ENV, SMALL_MODEL

    monkeypatch.setenv(MODEL_ENV, SMALL_MODEL)


@pytest.fixture(autouse=True)
def _no_cloud_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Night-mode tests must not trip over credentials of the machine running them."""
    from pantheon_engine.policy import CLOUD_CREDENTIALS

    for name in CLOUD_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)


#: a review.reference reviewer's reference for the example spec's shout()
SHOUT_REFERENCE = ('def expected(text):\n    return text.upper() + "!"\n\n'
                   'INPUTS = ["hello", "Ready, set", "", " a b "]\n')


def reference_review(function: str = "shout", reference: str = SHOUT_REFERENCE) -> list[str]:
    """The replies of a review.reference node: one comparison, then final."""
    import json

    return [json.dumps({"type": "tool", "name": "compare_reference",
                        "args": {"function": function, "reference": reference}}),
            json.dumps({"type": "final", "output": {"summary": f"compared {function}"}})]
