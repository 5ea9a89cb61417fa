"""The morning by document (issue 17, points 10 and 11): what the night merged, each change
with its title and diff, and what failed, each failure with its document and its error in
one line; run ids whole wherever they are printed; one κ in every part of the report.

A real night on the replay engine gives the artifacts: six docops jobs on
``docs/guide.md``, the first and fourth rejected by a reviewer (refused by the gate), four
merged; three more jobs find no recorded reply left and fail (red bins).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import atomic_write_json
from pantheon_engine.night.drain import Night
from pantheon_engine.night.report import render_markdown, write_report
from pantheon_engine.night.report_html import render_html
from pantheon_engine.night.report_text import kappa_figure
from pantheon_engine.night.summary import build_summary
from pantheon_engine.night.summary_model import DIFF_LINES, Summary
from pantheon_engine.policy import Policy
from test_night import doc_replies, queue_jobs

from conftest import ROOT

DOC = "docs/guide.md"
NO_REPLY = "replay has no recorded reply left for frontmatter"


@pytest.fixture
def night(docops_repo: Path, tmp_path: Path) -> Path:
    """The artifacts folder of one replayed night (see the module)."""
    art = tmp_path / "artifacts"
    queue = queue_jobs(art, docops_repo, 9)
    runner = Night(queue=queue, registry=default_registry(), engine=doc_replies(6, reject_every=3),
                   policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.05)
    result = asyncio.run(runner.run())
    queue.close()
    assert (result.done, result.failed) == (4, 5)
    return art


def _run_ids(summary: Summary, status: str) -> list[str]:
    return [r.run_id for r in summary.runs if r.status == status]


# --------------------------------------------------------------------------- the summary


def test_merged_changes_carry_their_title_and_diff(night: Path) -> None:
    s = build_summary(night)
    assert len(s.prs) == 4 and [p.run_id for p in s.prs] == _run_ids(s, "ok")
    for pr in s.prs:
        assert pr.title == DOC  # the input's path: what the merge commit is titled
        assert pr.branch == f"pantheon/{pr.run_id}" and pr.commit
        assert pr.diff_source == f"runs/{pr.run_id}/frontmatter/diff.patch"
        assert pr.diff == (night / pr.diff_source).read_text()
        assert "-Title: Getting started" in pr.diff and "+title: Getting started" in pr.diff
        assert pr.diff_omitted == 0
        assert (pr.files_changed, pr.lines_added, pr.lines_removed) == (1, 2, 2)


def test_red_bins_name_the_document_and_the_error(night: Path) -> None:
    s = build_summary(night)
    [red] = s.red_bins
    assert (red.agent, red.node, red.error_kind, red.count) == (
        "doc.frontmatter@1", "frontmatter", "replay_exhausted", 3)
    assert [f.run_id for f in red.failures] == _run_ids(s, "failed")[-3:]
    assert [f.path for f in red.failures] == red.paths
    for failure in red.failures:
        assert (failure.title, failure.error) == (DOC, NO_REPLY)
    assert all(r.title == DOC for r in s.runs)
    assert all(r.title == DOC for g in s.refused for r in g.refusals)


def test_a_merge_without_a_patch_is_read_from_git(night: Path) -> None:
    """No node left a diff.patch: the change is ``git diff BASE..COMMIT`` in the repo."""
    first = build_summary(night).prs[0]
    (night / "runs" / first.run_id / "frontmatter" / "diff.patch").unlink()
    pr = build_summary(night).prs[0]
    assert pr.diff_source is not None and pr.diff_source.startswith("git diff ")
    assert pr.diff is not None and "+title: Getting started" in pr.diff
    assert "diff --git a/docs/guide.md b/docs/guide.md" in pr.diff

    meta = json.loads((night / "runs" / first.run_id / "run.json").read_text())
    meta["repo"] = str(night / "gone")  # the repository moved away: no diff, no crash
    atomic_write_json(night / "runs" / first.run_id / "run.json", meta)
    pr = build_summary(night).prs[0]
    assert (pr.diff, pr.diff_source) == (None, None)
    assert "no diff: no node left a diff.patch" in render_markdown(build_summary(night))


def test_a_long_diff_is_cut_with_a_link_to_the_whole(night: Path, tmp_path: Path) -> None:
    pr = build_summary(night).prs[0]
    patch = night / "runs" / pr.run_id / "frontmatter" / "diff.patch"
    patch.write_text("".join(f"+line {i}\n" for i in range(DIFF_LINES + 25)))
    pr = build_summary(night).prs[0]
    assert pr.diff is not None and len(pr.diff.splitlines()) == DIFF_LINES
    assert pr.diff_omitted == 25
    out = tmp_path / "out"
    md = write_report(night, build_summary(night), out)[1].read_text()
    note = re.search(r"\*25 more lines in \[[^]]+\]\(([^)]+)\)\*", md)
    assert note is not None and (out / note.group(1)).resolve() == patch.resolve()


# --------------------------------------------------------------------------- the renderings


def test_the_report_starts_with_what_the_night_shipped(night: Path) -> None:
    s = build_summary(night)
    md = render_markdown(s)
    assert md.index("## Merged (4)") < md.index("## Red bins") < md.index("## Refused")
    merged = md[md.index("## Merged") : md.index("## Red bins")]
    assert merged.count(f"### {DOC}") == 4 and merged.count("```diff") == 4
    for pr in s.prs:
        assert f"run `{pr.run_id}`" in merged and f"branch `pantheon/{pr.run_id}`" in merged
    assert "+2 −2 in 1 file" in merged and "-Title: Getting started" in merged

    red = md[md.index("## Red bins") : md.index("## Refused")]
    assert "### doc.frontmatter@1 · frontmatter · replay_exhausted (3)" in red
    for failure in s.red_bins[0].failures:  # the whole run id, its document, its error
        assert (f"| [{failure.run_id}]({failure.path}) | {DOC} | {NO_REPLY} |") in red
    refused = md[md.index("## Refused") :]
    assert f"| {s.refused[0].refusals[0].run_id} | {DOC} | review_rejected |" in refused


def test_the_page_shows_the_changes_and_the_failures(night: Path, tmp_path: Path) -> None:
    s = build_summary(night)
    page = write_report(night, s, tmp_path / "out")[2].read_text()
    assert page.index("<h2>Merged (4)</h2>") < page.index("<h2>Red bins")
    assert page.count('<pre class="diff">') == 4
    assert '<span class="del">-Title: Getting started</span>' in page
    assert '<span class="add">+title: Getting started</span>' in page
    for failure in s.red_bins[0].failures:
        assert f">{failure.run_id}</a>" in page
    assert page.count(f"<td>{NO_REPLY}</td>") == 3
    assert "<script" not in page and "http://" not in page


def test_user_and_model_text_is_printed_as_written(night: Path) -> None:
    """A title or an error with Markdown or HTML in it is not read as such."""
    s = build_summary(night)
    failure = s.red_bins[0].failures[0]
    failure.title = "docs/*draft*_[x](y)_<b>.md"
    failure.error = "date: `2024/03/05` is <not> a *date* | [a, b]"
    s.prs[0].title = "Add <shout> & **loud**"
    md = render_markdown(s)
    assert r"docs/\*draft\*\_\[x\](y)\_\<b\>.md" in md
    assert r"date: \`2024/03/05\` is \<not\> a \*date\* \| \[a, b\]" in md
    assert r"### Add \<shout\> \& \*\*loud\*\*" in md
    page = render_html(s)
    assert "Add &lt;shout&gt; &amp; **loud**" in page and "<not>" not in page


def test_one_kappa_figure_everywhere(night: Path) -> None:
    """The header, the reviewers' section and the agreement section say the same κ, read
    from the summary (``kappa.overall`` over ``kappa.pairs``); no second κ beside it."""
    s = build_summary(night)
    assert s.kappa.pairs == 6 and s.kappa.overall is not None
    figure = kappa_figure(s.kappa)
    assert figure == f"κ {s.kappa.overall:.2f} over 6 review pairs"
    md = render_markdown(s)
    header = md[: md.index("## Merged")]
    assert f"| {s.kappa.overall:.2f} | 6 |" in header
    assert f"Agreement between the two reviewers: {figure}." in md
    assert f"{figure} (raw agreement" in md
    numbers = set(re.findall(r"κ (-?\d\.\d+|undefined)", md))
    assert numbers == {f"{s.kappa.overall:.2f}"}
    page = render_html(s)
    assert set(re.findall(r"κ (-?\d\.\d+|undefined)", page)) == numbers


# --------------------------------------------------------------------------- the command


def _pantheon(*args: str, cwd: Path, columns: int) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_pantheon_report_never_cuts_a_run_id(night: Path) -> None:
    """On a 60-column terminal every run id is printed whole (its cell folds elsewhere)."""
    s = build_summary(night)
    proc = _pantheon("report", "--artifacts", str(night), "--since", "7d", cwd=ROOT, columns=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "…" not in out
    for pr in s.prs:
        assert pr.run_id in out
    for failure in s.red_bins[0].failures:
        assert failure.run_id in out
    assert "Merged (4)" in out and "+title: Getting started" in out
    assert out.count(DOC) >= 4 + 3
    assert kappa_figure(s.kappa) in " ".join(out.split())


def _fields(obj: Any) -> set[str]:
    return set(obj) if isinstance(obj, dict) else set()


def test_report_json_has_the_changes_and_the_documents(night: Path) -> None:
    proc = _pantheon("report", "--artifacts", str(night), "--since", "7d", "--format", "json",
                     cwd=ROOT, columns=80)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"title", "diff", "diff_source", "diff_omitted"} <= _fields(data["prs"][0])
    assert {"run_id", "title", "error", "path"} <= _fields(data["red_bins"][0]["failures"][0])
    assert data["red_bins"][0]["failures"][0]["error"] == NO_REPLY
