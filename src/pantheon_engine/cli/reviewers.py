"""``pantheon reviewers``: labelled review items from a suite, and reviewers measured on them.

Exit status: 0 when the items are written or the measurement ran (whatever its numbers),
1 when ``--promote`` is refused, 2 for bad input (a suite, split, version or option that
does not fit), 3 when the night policy refuses.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from pantheon_engine.cli.options import (
    ArtifactsOption,
    BaseUrlOption,
    ConfigOption,
    EngineOption,
    JsonOption,
    ModelOption,
    NightOption,
    ReplayOption,
    examples,
    fail,
    print_json,
    say,
    say_err,
)
from pantheon_engine.errors import ConfigError, PantheonError

reviewers_app = typer.Typer(no_args_is_help=True, help=(
    "Reviewers that earn the merge gate: labelled review items from a suite, measured "
    "false-pass, false-fail and κ."))

SeedOption = Annotated[int, typer.Option(
    "--seed", help="which defect each bad item gets (the same seed builds the same items)")]
LimitOption = Annotated[int | None, typer.Option(
    "--limit", help="at most N items (whole good/bad pairs, in suite order)")]


@reviewers_app.command("items", epilog=examples(
    "pantheon suite make docops --phrasing paraphrase --out suites/docops-para",
    "pantheon reviewers items --suite suites/docops-para --split train --out data/review.jsonl",
    "pantheon train review.peer --data data/review.jsonl --base smollm2-135m --max-steps 40",
))
def items_cmd(
    suite: Annotated[Path, typer.Option("--suite", help="a docops or code suite folder")],
    out: Annotated[Path, typer.Option(
        "--out", help="JSONL file of training examples (pantheon train --data)")],
    split: Annotated[str, typer.Option("--split", help="train | holdout")] = "train",
    seed: SeedOption = 0,
    limit: LimitOption = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing --out")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write labelled review items of a suite split as training examples: each item's
    exact review prompt, per review node, with the reply of a reviewer that is right."""
    from pantheon_engine.atomic import atomic_write_text
    from pantheon_engine.specialize.reviewer_items import build_items, counts, item_examples

    try:
        if out.exists() and not force:
            raise ConfigError(f"--out {out}: already exists", hint="pass --force to replace it")
        if out.exists() and not out.is_file():
            raise ConfigError(f"--out {out}: not a file")
        items = build_items(suite, split, seed=seed, limit=limit)
        lines, skipped = asyncio.run(item_examples(items, suite=str(suite)))
        if not lines:
            raise ConfigError(f"no training example could be recorded from {suite} ({split})",
                              hint=f"skipped: {dict(skipped)}")
    except PantheonError as exc:
        fail(exc)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "".join(json.dumps(line, ensure_ascii=False,
                                              separators=(",", ":")) + "\n"
                                   for line in lines))
    summary = {**counts(items), "examples": len(lines), "skipped": dict(skipped),
               "suite": str(suite), "split": split, "out": str(out)}
    if as_json:
        print_json(summary)
        return
    say(f"{summary['items']} review items from {summary['tasks']} {split} tasks of {suite}: "
        + ", ".join(f"{k} {v}" for k, v in summary["by_verdict"].items()) + "; defects "
        + ", ".join(f"{k} {v}" for k, v in summary["by_defect"].items() if k != "none"))
    say(f"wrote {len(lines)} example(s) to {out}"
        + (f" (skipped: {dict(skipped)})" if skipped else ""))
    if split != "train":
        say_err("note: these are holdout items: they measure a reviewer (pantheon reviewers "
                "measure); pantheon train refuses them")


@reviewers_app.command("measure", epilog=examples(
    "pantheon reviewers measure --suite suites/docops-para --split holdout --limit 40",
    "pantheon reviewers measure --suite suites/docops-para --version review.peer@2 "
    "--against review.peer@1 --model smollm2-135m --promote",
))
def measure_cmd(
    suite: Annotated[Path, typer.Option("--suite", help="a docops or code suite folder")],
    split: Annotated[str, typer.Option("--split", help="holdout | train")] = "holdout",
    version: Annotated[str | None, typer.Option(
        "--version", help="the reviewer agent@N to measure (default: the current version "
        "of the flow's reviewer)")] = None,
    against: Annotated[str | None, typer.Option(
        "--against", help="another version of the same reviewer, measured on the same "
        "items: both results and an exact McNemar test on the paired outcomes")] = None,
    promote: Annotated[bool, typer.Option(
        "--promote", help="with --against the current version: make --version current if "
        "it wins the paired test and lets no more bad items through")] = False,
    alpha: Annotated[float, typer.Option("--alpha", help="significance level")] = 0.05,
    false_pass_max: Annotated[float, typer.Option(
        "--false-pass-max", help="the target: at most this false-pass rate per node")] = 0.10,
    kappa_min: Annotated[float, typer.Option(
        "--kappa-min", help="the target: at least this κ between the two nodes")] = 0.6,
    seed: SeedOption = 0,
    limit: LimitOption = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c",
                                             help="items reviewed at once")] = 32,
    night: NightOption = True,
    engine: EngineOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    replay: ReplayOption = None,
    artifacts: ArtifactsOption = Path("artifacts"),
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure a reviewer version on labelled review items of a suite split: accuracy,
    false-pass, false-fail per review node, κ between the nodes, and the always-pass /
    always-fail baselines."""
    from pantheon_engine.agents.ref import AgentRef
    from pantheon_engine.run.serving import EngineOptions
    from pantheon_engine.specialize.reviewer_items import build_items
    from pantheon_engine.specialize.reviewer_measure import (
        ReviewerMeasurement,
        Target,
        compare_measurements,
        measure_reviewers,
        promote_reviewer,
    )

    try:
        if promote and against is None:
            raise ConfigError("--promote needs --against the current version",
                              hint="the new version must beat the current one on the same "
                              "items")
        if not 0 < alpha < 1:
            raise ConfigError(f"--alpha must be between 0 and 1, got {alpha:g}")
        if not 0 <= false_pass_max <= 1:
            raise ConfigError(f"--false-pass-max must be between 0 and 1, got "
                              f"{false_pass_max:g}")
        if not -1 <= kappa_min <= 1:
            raise ConfigError(f"--kappa-min must be between -1 and 1, got {kappa_min:g}")
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
        refs = [AgentRef.parse(r) for r in (version, against) if r is not None]
        if against is not None:
            if version is None or AgentRef.parse(version).version is None \
                    or refs[1].version is None:
                raise ConfigError("--against compares two numbered versions: give --version "
                                  "NAME@N and --against NAME@M")
            if refs[0].name != refs[1].name:
                raise ConfigError(f"--against {against}: compare two versions of "
                                  f"{refs[0].name}", hint=f"e.g. --against {refs[0].name}@1")
        items = build_items(suite, split, seed=seed, limit=limit)
        options = EngineOptions(name=engine, model=model, base_url=base_url, replay=replay,
                                config=config)
        target = Target(false_pass_max=false_pass_max, kappa_min=kappa_min)

        def measure(ref: str | None) -> ReviewerMeasurement:
            say_err(f"measuring {ref or 'the current reviewer'} on {len(items)} {split} items")
            return asyncio.run(measure_reviewers(
                items, suite=str(suite), split=split, version=ref, engine=options,
                mode="night" if night else "day", artifacts=artifacts,
                concurrency=concurrency, target=target, seed=seed))

        result = measure(version)
        other = measure(against) if against is not None else None
        comparison = compare_measurements(artifacts, result, other) if other else None
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print_json({"measurement": result.model_dump(mode="json"),
                    "against": other.model_dump(mode="json") if other else None,
                    "comparison": comparison[0].model_dump(mode="json")
                    if comparison else None})
    else:
        for each in (result, other):
            if each is not None:
                say(each.render_text())
                say(f"reviewers.json: {Path(each.dir or '.') / 'reviewers.json'}")
        if comparison is not None:
            say(comparison[0].render_text())
            say(f"comparison: {comparison[1]}")
    if promote and other is not None:
        try:
            _, reason = promote_reviewer(artifacts, result, other, alpha=alpha)
        except PantheonError as exc:
            fail(exc)
        say(f"promoted {result.agent}: {reason}")
