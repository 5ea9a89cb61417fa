"""``pantheon demo``: a small repository with work for one night, and the jobs queued.

The workspace is a git repository with Markdown documents and the house rules their front
matter must follow (``rules.yaml``), and a small Python package with two specs. The
documents break the rules in different ways (a few already follow them); one docops job
per document is queued by fanning out over ``docs/*.md`` with the rules, exactly as
``pantheon queue add docops --rules rules.yaml --each 'docs/*.md'`` would, plus one
spec2code job per spec. The flows are the built-in ones, so the demo works from any folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from pydantic import BaseModel

from pantheon_engine.docops.rules import load_rules_file, rules_json
from pantheon_engine.errors import ConfigError
from pantheon_engine.flows_builtin import BUILTIN_DIR
from pantheon_engine.night.demo_code import PACKAGE, SPECS
from pantheon_engine.night.fanout import fan_out
from pantheon_engine.night.jobqueue import Job, default_queue_path
from pantheon_engine.night.queue_open import Location, open_queue
from pantheon_engine.night.specs import FlowInput

__all__ = ["DOCS", "DOCS_GLOB", "PACKAGE", "RULES_YAML", "SPECS", "Demo", "create_demo"]

RULES_YAML = """\
# House rules for the front matter of docs/*.md. Queue them again with:
#   pantheon queue add docops --rules rules.yaml --each 'docs/*.md'
rules:
  - kind: lowercase_keys        # Title -> title
  - kind: absent                # drafts are not published
    key: draft
  - kind: equals
    key: status
    value: published
  - kind: date                  # when present: the same day as YYYY-MM-DD
    key: date
  - kind: list                  # when present: a YAML list of the same items
    key: tags
  - kind: title_heading         # title = the text of the first "# " heading
"""

DOCS_GLOB = "docs/*.md"

#: (title, body, front matter as written): each breaks the rules its own way, or not at all
DOCS: list[tuple[str, str, str]] = [
    ("Getting started", "Install the tool, then run the setup script.",
     "Title: Getting started\ndraft: true\nowner: docs-team\n"),
    ("Release process", "Tag, build, publish; in that order.",
     "title: Release process\nstatus: draft\ndate: 2024/03/05\ntags: release, process\n"),
    ("On-call handbook", "Who answers the pager, and how.",
     "title: On-call handbook\nstatus: published\ndate: 2024-02-01\ntags: [oncall]\n"),
    ("Style guide", "Short sentences. Plain words.",
     "title: Style Guide\nStatus: published\nowner: docs-team\n"),
    ("Architecture", "Three services and a queue.",
     "status: published\ndate: March 4, 2024\n"),
    ("Testing", "Every change ships with a test.",
     "Title: Testing\nTags: testing; ci\nstatus: review\n"),
    ("Security", "Secrets never go into the repository.",
     "title: Security\nstatus: published\nowner: security-team\ntags: [secrets, access]\n"),
    ("Glossary", "The words we use, and what they mean.",
     "title: Glossary\ndraft: false\nstatus: published\ndate: 2024-01-15\n"),
    ("Roadmap", "What we build next quarter.",
     "title: Roadmap\nstatus: published\ndate: 20240610\ntags: roadmap\n"),
    ("FAQ", "Questions people ask every week.",
     "title: FAQ\nstatus: Published\ndate: 2024-04-01\ntags: [faq]\n"),
    ("Contributing", "Fork, branch, pull request.",
     "Title: Contributing\nowner: docs-team\ndate: 5 May 2024\ntags: [process, git]\n"),
    ("Changelog policy", "One line per user-visible change.",
     "title: Changelog policy\nstatus: published\ndate: 2023-11-20\n"),
]

class Demo(BaseModel):
    """What ``create_demo`` made: the workspace, its rules file and the jobs queued."""

    workspace: str
    rules: str
    queued: int
    depth: int
    docops: int
    spec2code: int
    #: queued jobs of an earlier demo in the same folder, removed (``--force``)
    replaced: int = 0


def doc_name(index: int, title: str) -> str:
    return f"docs/{index:02d}-{title.lower().replace(' ', '-')}.md"


def doc_text(title: str, body: str, meta: str) -> str:
    return f"---\n{meta}---\n# {title}\n\n{body}\n"


def _write_files(folder: Path) -> None:
    (folder / "docs").mkdir(parents=True)
    for index, (title, body, meta) in enumerate(DOCS):
        (folder / doc_name(index, title)).write_text(doc_text(title, body, meta),
                                                     encoding="utf-8")
    (folder / "rules.yaml").write_text(RULES_YAML, encoding="utf-8")
    for rel, text in PACKAGE.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    (folder / "specs").mkdir()
    for index, spec in enumerate(SPECS):
        # the spec file names its workspace relative to itself, so it can be queued again
        (folder / "specs" / f"{index:02d}.json").write_text(
            json.dumps({"workspace": "..", **spec}, indent=2) + "\n")


def _commit(folder: Path) -> None:
    ident = ["-c", "user.name=Pantheon demo", "-c", "user.email=demo@localhost",
             "-c", "commit.gpgsign=false"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 [*ident, "commit", "-q", "-m", "demo workspace"]):
        subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def create_demo(folder: Path | str, artifacts: Path | str, *, force: bool = False,
                queue: Location | None = None) -> Demo:
    """Write the demo repository and queue its jobs (all checked, then one transaction).

    With ``force`` an existing demo folder is rebuilt, and the jobs still queued for it
    are replaced by the new ones: afterwards exactly the demo's jobs are queued for it.
    """
    folder = Path(folder).resolve()
    if folder.exists():
        if not force:
            raise ConfigError(f"{folder} exists", hint="pass --force to recreate it")
        shutil.rmtree(folder)
    docops = FlowInput(BUILTIN_DIR / "docops.yaml")
    spec2code = FlowInput(BUILTIN_DIR / "spec2code.yaml")
    _write_files(folder)
    _commit(folder)
    rules = {"rules": rules_json(load_rules_file(folder / "rules.yaml"))}
    jobs = fan_out(docops, DOCS_GLOB, shared=rules, workspace=folder)
    jobs += [spec2code.job({"workspace": str(folder), **spec}) for spec in SPECS]
    with open_queue(queue if queue is not None else default_queue_path(artifacts)) as opened:
        # the jobs an earlier demo in this folder queued would run against the new one
        replaced, added = opened.replace_queued(lambda job: _works_on(job, folder), jobs)
        depth = opened.depth()
    return Demo(workspace=str(folder), rules=str(folder / "rules.yaml"), queued=len(added),
                depth=depth, docops=len(DOCS), spec2code=len(SPECS), replaced=replaced)


def _works_on(job: Job, folder: Path) -> bool:
    data = job.input
    return isinstance(data, dict) and data.get("workspace") == str(folder)
