"""Merges pushed to a shared git remote: the branch lands where every worker and the team
see it; a night pushes only to a folder every worker reaches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.errors import WorkspaceError
from pantheon_engine.gitops import check_remote, remote_host, remote_is_local
from pantheon_engine.run.flows import load_flow_checked
from test_orchestrator import SHOUT, final, orchestrator, replies, spec_input, tool

from conftest import FLOWS, reference_review


@pytest.mark.parametrize(("remote", "local", "host"), [
    ("/srv/git/team.git", True, None),
    ("file:///srv/git/team.git", True, None),
    ("../team.git", True, None),
    ("ssh://git@build-1:2222/team.git", False, "build-1"),
    ("git@build-2:team.git", False, "build-2"),
    ("https://git.example.org/team.git", False, "git.example.org"),
])
def test_a_remote_is_local_only_when_it_is_a_folder(remote: str, local: bool,
                                                    host: str | None) -> None:
    assert remote_is_local(remote) is local
    assert remote_host(remote) == host


def test_a_remote_that_does_not_answer_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a git repository"):
        check_remote(str(tmp_path / "nothing.git"))


async def test_a_merged_branch_is_pushed_to_the_shared_remote(spec_repo: Path,
                                                              tmp_path: Path) -> None:
    remote = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    engine = replies(codegen=[tool("write_file", path="textkit/words.py", content=SHOUT),
                              final(summary="added shout")],
                     reviewA=reference_review(), reviewB=reference_review())
    runner = orchestrator(engine, tmp_path / "art")
    runner.shared["merge_remote"] = str(remote)
    result = await runner.run(load_flow_checked(FLOWS / "spec2code.yaml"), spec_input(),
                              spec_repo)
    assert result.status == "ok", result.error
    branch = f"pantheon/{result.run_id}"
    shown = subprocess.run(["git", "show", f"{branch}:textkit/words.py"], cwd=remote,
                           capture_output=True, text=True, check=True).stdout
    assert "def shout" in shown
    report = (Path(result.dir) / "merge" / "report.json").read_text()
    assert str(remote) in report


def test_a_night_refuses_a_remote_on_another_host(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["night", "--merge-remote", "ssh://git@build-1/team.git",
                                      "--artifacts", str(tmp_path / "art")])
    assert result.exit_code == 2
    assert "a night pushes only to a folder or file:// remote" in result.output
    assert "build-1" in result.output


def test_a_night_pushes_to_a_host_the_policy_allows(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_SSH_COMMAND", "false")  # no ssh leaves this machine
    config = tmp_path / "pantheon.toml"
    config.write_text('[policy]\nallowed_hosts = ["10.0.0.7"]\n')
    result = CliRunner().invoke(app, ["night", "--merge-remote", "ssh://git@10.0.0.7/t.git",
                                      "--config", str(config), "--artifacts",
                                      str(tmp_path / "art")])
    # past the policy: the remote itself is then asked (and here does not answer)
    assert "a night pushes only" not in result.output
    assert "not a git repository that answers" in result.output
