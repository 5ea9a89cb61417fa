"""``pantheon capacity``: size a night as an M/M/c queue."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pantheon_engine.cli.options import console, fail
from pantheon_engine.errors import ConfigError, PantheonError


def capacity_cmd(
    arrival_rate: Annotated[float, typer.Option("--arrival-rate", help="λ: tasks per hour")],
    service_rate: Annotated[float, typer.Option("--service-rate",
                                                help="μ: tasks per hour per slot")],
    servers: Annotated[int, typer.Option("--servers", help="c: concurrent slots")],
    max_rho: Annotated[float, typer.Option("--max-rho")] = 0.8,
    target_wait: Annotated[float | None, typer.Option(
        "--target-wait", help="mean wait to stay under, in hours")] = None,
    hours: Annotated[float | None, typer.Option("--hours", help="night length T")] = None,
    specialist: Annotated[list[str] | None, typer.Option(
        "--specialist", help="MU:PASS_RATE of one specialist (repeat) for E[accepted]")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Size a night: ρ = λ/(cμ), Erlang-C P(wait), mean wait, the smallest c that fits."""
    from pantheon_engine.night.capacity import capacity_report, expected_accepted, smallest_servers

    try:
        report = capacity_report(arrival_rate, service_rate, servers).model_dump()
        report["smallest_servers"] = smallest_servers(
            arrival_rate, service_rate, max_rho=max_rho, target_wait=target_wait)
        report["max_rho"], report["target_wait"] = max_rho, target_wait
        if specialist:
            pairs = []
            for item in specialist:
                mu, _, pass_rate = item.partition(":")
                try:
                    pairs.append((float(mu), float(pass_rate)))
                except ValueError:
                    raise ConfigError(f"--specialist {item!r}: expected MU:PASS_RATE, "
                                      "e.g. 10:0.8") from None
            report["expected_accepted"] = expected_accepted(hours or 8.0, pairs)
            report["hours"] = hours or 8.0
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(title="capacity (M/M/c)", title_justify="left", show_header=False)
    rows = [
        ("λ arrivals / h", f"{report['arrival_rate']:g}"),
        ("μ per slot / h", f"{report['service_rate']:g}"),
        ("c slots", str(report["servers"])),
        ("ρ utilisation", f"{report['utilisation']:.3f}"
         + ("  [red](over " + f"{max_rho:g})[/]" if report["utilisation"] > max_rho else "")),
        ("P(wait) Erlang-C", f"{report['p_wait']:.4f}"),
        ("mean wait (h)", f"{report['mean_wait']:.4f}"),
        ("mean response (h)", f"{report['mean_response']:.4f}"),
        (f"smallest c with ρ ≤ {max_rho:g}" + (f", wait ≤ {target_wait:g} h" if target_wait
                                                else ""), str(report["smallest_servers"])),
    ]
    if "expected_accepted" in report:
        accepted = f"{report['expected_accepted']:.1f}"
        rows.append((f"E\\[accepted] in {report['hours']:g} h", accepted))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
