"""``pantheon fix RUN_ID``: fix a failed docops run by hand; a passing fix becomes data.

The same flow as the control room's fix key (see :mod:`pantheon_engine.specialize.fixes`):
the run's file opens in ``$VISUAL``/``$EDITOR`` (``vi`` when neither is set), the task's
check grades the result, and a fix that passes is replayed through the agent's loop and
appended to ``<artifacts>/specialize/<agent>/fixes.jsonl`` with source ``fix``.

Exit status: 0 when the fix was recorded, 1 when it was not (the check failed, the change
is not the agent's kind of edit, the replay did not pass, the editor failed; the edited
file is kept either way), 2 for bad input (no such run, not a docops run, a holdout task).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated

import typer

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.cli.options import ArtifactsOption, err_console, fail, say
from pantheon_engine.errors import ConfigError, PantheonError


def fix_cmd(
    run_id: Annotated[str, typer.Argument(help="the failed run (a folder under "
                                          "<artifacts>/runs)")],
    node: Annotated[str | None, typer.Option(
        "--node", help="the failed node (default: the run's failed node); its document "
        "agent is the one the fix teaches")] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
    edit: Annotated[bool, typer.Option(
        "--edit/--no-edit", help="open the file in $EDITOR first (--no-edit: grade the "
        "copy as it is, e.g. after editing it yourself)")] = True,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="start again from the run's file, dropping an earlier attempt's "
        "copy")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Fix a failed docops run's file by hand; a fix that passes its check becomes a
    demonstration for the agent."""
    from pantheon_engine.specialize.fixes import apply_fix_blocking, editor_command, prepare_fix

    try:
        target = prepare_fix(artifacts, run_id, node, fresh=fresh)
        if not as_json:
            say(f"{target.path} of run {run_id} ({target.agent}, from the "
                f"{target.origin}): {target.file}")
        if edit:
            command = editor_command(target.file)
            try:
                code = subprocess.run(command, check=False).returncode
            except OSError as exc:
                raise ConfigError(f"cannot start the editor {command[0]!r}: {exc}",
                                  hint="set $VISUAL or $EDITOR, or edit the file yourself "
                                  "and run pantheon fix --no-edit") from None
            if code != 0:
                err_console.print(f"the editor exited with status {code}: nothing was checked; "
                          f"the file is kept at {target.file}", highlight=False,
                          soft_wrap=True, markup=False)
                raise typer.Exit(1)
        result = apply_fix_blocking(artifacts, target)
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        say(result.render())
        if result.recorded:
            name = AgentRef.name_of(result.agent)
            say(f"merge with: pantheon traces mine {name} --out data/{name}.jsonl "
                f"--include {result.out}")
    if not result.recorded:
        raise typer.Exit(1)
