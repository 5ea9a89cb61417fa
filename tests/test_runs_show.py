"""``pantheon runs show RUN_ID`` (issue 17, point 10): one run as the room's viewer shows
it: what it was about, how it ended, its nodes with status and error, each node's files in
the viewer's order, and the change as a diff; ``--json`` gives the same as one object.
An unknown run exits 2 naming runs that exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.errors import ConfigError
from pantheon_engine.night.run_detail import read_run
from pantheon_engine.night.summary import build_summary
from pantheon_engine.night.triage import artifact_files
from test_report_morning import DOC, NO_REPLY, night  # noqa: F401 (night: the fixture)

runner = CliRunner()


def ids(art: Path, status: str) -> list[str]:
    return [r.run_id for r in build_summary(art).runs if r.status == status]


def show(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["runs", "show", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_merged_run(night: Path) -> None:  # noqa: F811
    run_id = ids(night, "ok")[0]
    run = read_run(night, run_id)
    assert (run.flow, run.title, run.status) == ("docops", DOC, "ok")
    assert [n.node for n in run.nodes] == ["frontmatter", "check", "reviewA", "reviewB",
                                           "merge"]
    assert {n.status for n in run.nodes} == {"ok"} and run.nodes[0].agent == "doc.frontmatter@1"
    for node in run.nodes:  # the viewer's files, in the viewer's order
        assert node.files == [p.name for p in artifact_files(night, run_id, node.node)]
    assert "diff.patch" in run.nodes[0].files
    assert run.branch == f"pantheon/{run_id}" and run.commit
    assert run.diff_source == f"runs/{run_id}/frontmatter/diff.patch"
    assert run.diff == (night / run.diff_source).read_text()

    code, out, err = show(run_id, "--artifacts", str(night))
    assert code == 0, err
    for text in (f"run {run_id}", "document   docs/guide.md", "status     ok",
                 f"pantheon/{run_id} at {run.commit[:12]}", "frontmatter   doc.frontmatter@1",
                 "merge         merge.gate@1", "diff.patch", f"change ({run.diff_source})",
                 "-Title: Getting started", "+title: Getting started"):
        assert text in out, text


def test_a_failed_run(night: Path) -> None:  # noqa: F811
    run_id = ids(night, "failed")[-1]
    code, out, err = show(run_id, "--artifacts", str(night))
    assert code == 0, err
    assert "status     failed at frontmatter (replay_exhausted)" in out
    assert f"error      {NO_REPLY}" in out
    assert "replay_exhausted: replay has no recorded reply left" in " ".join(out.split())
    assert "not_run" in out and "error.json" in out
    assert "change: none" in out

    code, out, _ = show(run_id, "--json", "--artifacts", str(night))
    data = json.loads(out)
    assert code == 0 and data["run_id"] == run_id and data["status"] == "failed"
    frontmatter = data["nodes"][0]
    assert (frontmatter["node"], frontmatter["status"], frontmatter["error_kind"]) == (
        "frontmatter", "failed", "replay_exhausted")
    assert frontmatter["error"] == NO_REPLY and frontmatter["files"][0] == "error.json"
    assert data["diff"] is None


def test_a_refused_run_names_the_gates_reason(night: Path) -> None:  # noqa: F811
    refused = build_summary(night).refused[0].refusals[0]
    code, out, _ = show(refused.run_id, "--artifacts", str(night))
    assert code == 0
    assert "failed at merge (review_rejected)" in out
    assert "not merged: review rejected the change (reviewB: r)" in out
    assert "-Title: Getting started" in out  # the change it would have merged


def test_json_is_the_whole_run(night: Path) -> None:  # noqa: F811
    run_id = ids(night, "ok")[0]
    code, out, _ = show(run_id, "--artifacts", str(night), "--json")
    assert code == 0
    assert json.loads(out) == read_run(night, run_id).model_dump(mode="json")


@pytest.mark.parametrize("typo", ["nosuch", "..", "a/b", ""])
def test_an_unknown_run_exits_2_naming_runs_that_exist(night: Path, typo: str) -> None:  # noqa: F811
    code, out, err = show(typo, "--artifacts", str(night))
    assert code == 2 and out == ""
    assert f"error: no run {typo or repr(typo)} in" in err and "hint: the newest runs:" in err
    with pytest.raises(ConfigError):
        read_run(night, typo)


def test_part_of_an_id_is_offered(night: Path) -> None:  # noqa: F811
    run_id = ids(night, "ok")[0]
    code, _, err = show(run_id[-6:], "--artifacts", str(night))
    assert code == 2 and f"did you mean {run_id}?" in err


def test_no_artifacts_folder(tmp_path: Path) -> None:
    code, _, err = show("x", "--artifacts", str(tmp_path / "artifact"))
    assert code == 2 and "no artifacts folder" in err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    code, _, err = show("x", "--artifacts", str(tmp_path / "empty"))
    assert code == 2 and "no run has been made" in err
