"""``pantheon demo``: a small repository with work for one night, and the jobs queued.

The workspace is a git repository with Markdown documents whose front matter needs
normalising (docops micro-tasks) and a small Python package with two specs (spec2code).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from pantheon_engine.errors import ConfigError
from pantheon_engine.jobqueue import JobQueue, NewJob

TOPICS = [
    ("Getting started", "Install the tool, then run the setup script."),
    ("Release process", "Tag, build, publish; in that order."),
    ("On-call handbook", "Who answers the pager, and how."),
    ("Style guide", "Short sentences. Plain words."),
    ("Architecture", "Three services and a queue."),
    ("Testing", "Every change ships with a test."),
    ("Security", "Secrets never go into the repository."),
    ("Glossary", "The words we use, and what they mean."),
    ("Roadmap", "What we build next quarter."),
    ("FAQ", "Questions people ask every week."),
    ("Contributing", "Fork, branch, pull request."),
    ("Changelog policy", "One line per user-visible change."),
]

PACKAGE = {
    "textkit/__init__.py": '"""Small text helpers."""\n',
    "textkit/words.py": (
        '"""Word helpers."""\n\n\ndef count_words(text: str) -> int:\n'
        '    """Number of whitespace-separated words in ``text``."""\n'
        "    return len(text.split())\n"
    ),
    "tests/test_words.py": (
        "from textkit.words import count_words\n\n\n"
        "def test_count_words() -> None:\n"
        '    assert count_words("a b  c") == 3\n'
    ),
    "conftest.py": "",
}

SPECS = [
    {
        "title": "Add shout() to textkit.words",
        "scope": "Add shout(text: str) -> str returning the text upper-cased with one "
                 "exclamation mark appended. Keep count_words unchanged.",
        "acceptance": ['shout("hello") returns "HELLO!"', "count_words keeps working"],
        "files": ["textkit/words.py"],
        "tests": "tests",
    },
    {
        "title": "Add count_vowels() to textkit.words",
        "scope": "Add count_vowels(text: str) -> int counting a, e, i, o, u in any case.",
        "acceptance": ['count_vowels("Pantheon") returns 3'],
        "files": ["textkit/words.py"],
        "tests": "tests",
    },
]


def _doc(index: int, title: str, body: str) -> tuple[str, dict[str, object]]:
    """A document with one of a few kinds of messy front matter, and its docops task."""
    task: dict[str, object] = {"set": {"status": "published"}}
    if index % 3 == 0:
        meta = f"Title: {title}\ndraft: true\nowner: docs-team\n"
        task.update(rename={"Title": "title"}, delete=["draft"])
    elif index % 3 == 1:
        meta = f"title: {title}\ndraft: true\n"
        task.update(delete=["draft"])
    else:
        meta = f"Title: {title}\nowner: docs-team\n"
        task.update(rename={"Title": "title"})
    return f"---\n{meta}---\n# {title}\n\n{body}\n", task


def create_demo(folder: Path, artifacts: Path, flows: Path, *, force: bool = False) -> dict:
    """Write the demo repository and queue its jobs; returns what was queued."""
    folder = Path(folder).resolve()
    docops, spec2code = Path(flows) / "docops.yaml", Path(flows) / "spec2code.yaml"
    for flow in (docops, spec2code):
        if not flow.is_file():
            raise ConfigError(f"{flow}: flow not found",
                              hint="run pantheon demo from the project folder (it has flows/)")
    if folder.exists():
        if not force:
            raise ConfigError(f"{folder} exists", hint="pass --force to recreate it")
        shutil.rmtree(folder)
    (folder / "docs").mkdir(parents=True)
    jobs = []
    for index, (title, body) in enumerate(TOPICS):
        name = f"docs/{index:02d}-{title.lower().replace(' ', '-')}.md"
        text, task = _doc(index, title, body)
        (folder / name).write_text(text, encoding="utf-8")
        jobs.append(NewJob(flow=str(docops.resolve()), flow_name="docops",
                           group_key="doc.frontmatter",
                           input={"workspace": str(folder), "path": name, **task}))
    for rel, text in PACKAGE.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    (folder / "specs").mkdir()
    for index, spec in enumerate(SPECS):
        # the spec file names its workspace relative to itself, so it can be queued again
        (folder / "specs" / f"{index:02d}.json").write_text(
            json.dumps({"workspace": "..", **spec}, indent=2) + "\n")
        jobs.append(NewJob(flow=str(spec2code.resolve()), flow_name="spec2code",
                           group_key="plan.validate", input={"workspace": str(folder), **spec}))
    ident = ["-c", "user.name=Pantheon demo", "-c", "user.email=demo@localhost",
             "-c", "commit.gpgsign=false"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 [*ident, "commit", "-q", "-m", "demo workspace"]):
        subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)
    with JobQueue.for_artifacts(artifacts) as queue:
        added = queue.add_many(jobs)
        depth = queue.depth()
    return {"workspace": str(folder), "queued": len(added), "depth": depth,
            "docops": len(TOPICS), "spec2code": len(SPECS)}
