"""The Night screen: panels from metrics.jsonl, followed live, and the trend panel itself."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from rich.style import Style
from textual.pilot import Pilot

from pantheon_engine.atomic import append_jsonl
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import RoomContext
from pantheon_tui.screens.night import NightScreen, duration, number
from pantheon_tui.watch import MetricsUpdate, NightFollower, follow
from pantheon_tui.widgets.trend import (
    THRESHOLD_CHAR,
    TrendData,
    TrendStyles,
    chart_rows,
    downsample,
    format_number,
    render_trend,
    threshold_row,
)

from tui.conftest import NIGHT_ID, metrics_sample

SIZE = (120, 40)
PARTIAL = '{"t": 17952'  # what the fixture's writer left mid-line


def metrics_file(room: RoomContext, night: str = NIGHT_ID) -> Path:
    return room.artifacts / "nights" / night / "metrics.jsonl"


def end_partial_line(room: RoomContext) -> None:
    """Close the fixture's torn line (it becomes one skipped line) so appends stand alone."""
    with metrics_file(room).open("a") as handle:
        handle.write("\n")


def sample(i: int, **changes: object) -> dict[str, object]:
    return {**metrics_sample(i), **changes}


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Pause until ``condition`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting for the night screen"
        await pilot.pause(0.05)


async def night_screen(app: ControlRoom) -> NightScreen:
    screen = app.screen
    assert isinstance(screen, NightScreen)
    await screen.settled()
    return screen


def current(screen: NightScreen, key: str) -> float | None:
    return screen.panel(key).data.current


# --- the screen ------------------------------------------------------------------------------


async def test_panels_show_the_last_complete_sample(room: RoomContext) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        await pilot.pause()
        last = metrics_sample(95)
        assert screen.samples == 96 and screen.night is not None
        assert screen.night.name == NIGHT_ID
        for key, name in (("batch", "batch_size"), ("tokens", "tokens_per_s"), ("rho", "rho"),
                          ("kappa", "kappa"), ("queue", "queue_depth"), ("done", "done"),
                          ("waits", "observed_mean_wait_s"),
                          ("schema", "schema_error_rate")):
            assert current(screen, key) == last[name], key
        assert len(screen.panel("tokens").data.values) == 96
        tokens = f"{metrics_sample(95)['tokens_per_s']:g} tok/s"
        assert tokens in screen.panel("tokens").render().plain
        assert "failed 4" in screen.panel("done").render().plain
        assert "p95 1m30s" in screen.panel("waits").render().plain
        # the newest samples carry κ as null (no variation): undefined, never a number
        assert last["kappa"] is None and current(screen, "kappa") is None
        kappa = screen.panel("kappa").render().plain.splitlines()
        assert kappa[0].endswith(" undefined") and "FP 25%" in kappa[1]
        rho = screen.panel("rho").render().plain
        assert f"{metrics_sample(95)['rho']:.2f}" in rho and THRESHOLD_CHAR in rho
        header = screen.header_text().plain
        assert NIGHT_ID in header and "96 samples" in header
        assert "last sample 5m ago (05:55:00)" in header and "c 8" in header


async def test_an_appended_line_reaches_its_panel_by_polling(room: RoomContext) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        end_partial_line(room)
        append_jsonl(metrics_file(room), sample(96, tokens_per_s=999.0, rho=0.93))
        await until(pilot, lambda: current(screen, "tokens") == 999.0)
        assert current(screen, "rho") == 0.93 and screen.samples == 97
        assert "999 tok/s" in screen.panel("tokens").render().plain
    assert screen.follower_stopped.wait(5), "the polling thread outlived the app"


async def test_the_header_says_how_many_model_servers_are_up(room: RoomContext) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        assert "servers" not in screen.header_text().plain  # one embedded model
        end_partial_line(room)
        servers = [{"url": "http://127.0.0.1:8000/v1", "up": True, "requests": 40},
                   {"url": "http://127.0.0.1:8001/v1", "up": False, "errors": 2}]
        append_jsonl(metrics_file(room), sample(96, endpoints=servers))
        await until(pilot, lambda: screen.samples == 97)
        assert ("servers 1/2 up (down: http://127.0.0.1:8001/v1)"
                in screen.header_text().plain)


async def test_an_appended_line_reaches_its_panel_through_watchfiles(
        room: RoomContext) -> None:
    app = ControlRoom(replace(room, watch=True), mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        end_partial_line(room)
        append_jsonl(metrics_file(room), sample(96, tokens_per_s=777.0))
        await until(pilot, lambda: current(screen, "tokens") == 777.0)
    assert screen.follower_stopped.wait(5), "the watching thread outlived the app"


async def test_a_completed_partial_line_appears_and_garbage_is_skipped(
        room: RoomContext) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        whole = json.dumps(sample(96, tokens_per_s=611.0))
        assert whole.startswith(PARTIAL)
        with metrics_file(room).open("a") as handle:
            handle.write(whole[len(PARTIAL):] + "\n")
        await until(pilot, lambda: screen.samples == 97)
        assert current(screen, "tokens") == 611.0 and screen.skipped == 0

        with metrics_file(room).open("a") as handle:
            handle.write("not json\n[1, 2]\n")
        odd = sample(97, tokens_per_s="fast", rho=None)
        del odd["kappa"]
        append_jsonl(metrics_file(room), odd)
        await until(pilot, lambda: screen.samples == 98)
        assert screen.skipped == 2 and "2 bad lines skipped" in screen.header_text().plain
        for key in ("tokens", "rho", "kappa"):
            assert current(screen, key) is None
            assert screen.panel(key).render().plain.splitlines()[0].endswith(" -")
        assert current(screen, "queue") == 0  # the other fields still count
        assert screen.panel("tokens").data.values[-2:] == (611.0, None)


async def test_a_replaced_metrics_file_is_read_again(room: RoomContext) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        replacement = metrics_file(room).with_suffix(".new")
        replacement.write_text("".join(json.dumps(sample(i, tokens_per_s=100.0 + i)) + "\n"
                                       for i in range(3)))
        replacement.replace(metrics_file(room))
        await until(pilot, lambda: screen.samples == 3)
        assert current(screen, "tokens") == 102.0
        assert screen.panel("tokens").data.values == (100.0, 101.0, 102.0)


async def test_a_new_night_is_followed_and_older_ones_can_be_chosen(room: RoomContext) -> None:
    new_id = "20261121T220000Z-night-beef"
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        for i in range(2):
            append_jsonl(metrics_file(room, new_id), sample(i, night_id=new_id,
                                                            tokens_per_s=123.0 + i))
        await until(pilot, lambda: screen.night is not None and screen.night.name == new_id)
        await until(pilot, lambda: screen.samples == 2)
        assert current(screen, "tokens") == 124.0
        assert new_id in screen.header_text().plain

        await pilot.press("left_square_bracket")
        await until(pilot, lambda: screen.samples == 96)
        assert screen.night is not None and screen.night.name == NIGHT_ID and screen.pinned
        assert "chosen night" in screen.header_text().plain

        await pilot.press("f")
        await until(pilot, lambda: screen.samples == 2 and not screen.pinned)
        assert screen.night is not None and screen.night.name == new_id


@pytest.mark.parametrize("watch", [False, True], ids=["poll", "watch"])
async def test_no_night_yet_says_what_to_run(room: RoomContext, tmp_path: Path,
                                             watch: bool) -> None:
    bare = replace(room, artifacts=tmp_path / "not-there-yet", watch=watch)
    app = ControlRoom(bare, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        assert screen.night is None
        assert screen.header_text().plain == ("No night yet: run pantheon demo (example jobs), "
                                              "then pantheon night")
        assert screen.panel("tokens").render().plain.splitlines()[0].endswith(" -")
        append_jsonl(bare.artifacts / "nights" / NIGHT_ID / "metrics.jsonl", sample(0))
        await until(pilot, lambda: screen.samples == 1)
        assert current(screen, "tokens") == metrics_sample(0)["tokens_per_s"]
    assert screen.follower_stopped.wait(5)


async def test_a_burst_costs_few_flushes_and_keeps_the_window(room: RoomContext) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        before = screen.flushes
        end_partial_line(room)
        burst = 5000
        lines = "".join(json.dumps(sample(96 + i, tokens_per_s=float(i))) + "\n"
                        for i in range(burst))
        with metrics_file(room).open("a") as handle:
            handle.write(lines)
        await until(pilot, lambda: screen.samples == 96 + burst)
        await pilot.pause(0.2)
        assert screen.flushes - before <= 5  # not one per line: a handful at most
        window = room.settings.sample_window
        values = screen.panel("tokens").data.values
        assert len(values) == window and values[-1] == burst - 1
        assert values[0] == burst - window
        assert current(screen, "tokens") == burst - 1


async def test_a_long_night_loads_without_blocking_the_screen(room: RoomContext) -> None:
    lines = "".join(json.dumps(sample(i % 96, tokens_per_s=float(i))) + "\n"
                    for i in range(10_000))
    metrics_file(room).write_text(lines)
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=SIZE) as pilot:
        screen = await night_screen(app)
        await until(pilot, lambda: screen.samples == 10_000)
        assert len(screen.panel("tokens").data.values) == room.settings.sample_window
        assert current(screen, "tokens") == 9_999.0


# --- the follower without an app -------------------------------------------------------------


def test_the_follower_hands_over_only_the_window(room: RoomContext) -> None:
    follower = NightFollower(room.artifacts, keep=10)
    got: list[MetricsUpdate] = []
    assert follower.poll(got.append)
    assert got[0].reset and got[0].count == 96 and len(got[0].records) == 10
    assert got[0].records[-1] == metrics_sample(95)
    assert not follower.poll(got.append)  # the partial line is not a record yet


def test_follow_returns_when_stopped(room: RoomContext) -> None:
    stop = threading.Event()
    got: list[MetricsUpdate] = []
    thread = threading.Thread(target=follow, args=(NightFollower(room.artifacts), got.append,
                                                   stop), kwargs={"watch": True})
    thread.start()
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and got[0].count == 96


def test_watchfiles_reports_an_append_long_before_the_next_rescan(room: RoomContext) -> None:
    stop, arrived = threading.Event(), threading.Event()
    got: list[MetricsUpdate] = []

    def emit(update: MetricsUpdate) -> None:
        got.append(update)
        arrived.set()

    thread = threading.Thread(target=follow, args=(NightFollower(room.artifacts), emit, stop),
                              kwargs={"watch": True, "rescan_s": 3600.0, "timeout_ms": 50})
    thread.start()
    try:
        assert arrived.wait(5)
        arrived.clear()
        stop.wait(0.3)  # the watcher is running and has had its first look
        end_partial_line(room)
        append_jsonl(metrics_file(room), sample(96, tokens_per_s=1.0))
        assert arrived.wait(5), "no file event reached the follower"
        assert got[-1].records[-1]["tokens_per_s"] == 1.0
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


# --- the trend panel -------------------------------------------------------------------------


def test_downsample_buckets_a_long_series_to_the_width() -> None:
    values = [float(v) for v in range(1000)]
    assert downsample(values, 10) == [49.5 + 100 * i for i in range(10)]
    assert downsample(values, 10, "max") == [99.0 + 100 * i for i in range(10)]
    assert downsample(values, 10, "min") == [100.0 * i for i in range(10)]
    assert downsample([1.0, None, 3.0], 10) == [1.0, None, 3.0]
    assert downsample([None, None, 1.0, 2.0], 2) == [None, 1.5]
    assert downsample(values, 0) == []


def test_the_threshold_line_sits_in_the_row_of_its_level() -> None:
    columns = [0.0, 0.25, 0.5, 0.75, 1.0]
    rows = chart_rows(columns, 4, threshold=0.5)
    assert threshold_row(0.5, 0.0, 1.0, 4) == 1
    assert rows == ["    █", "┄┄┄██", "  ███", "▁████"]
    assert THRESHOLD_CHAR in chart_rows(columns, 5, threshold=0.8)[0]
    # a threshold beyond the data stretches the scale so the line stays on the chart
    assert chart_rows([0.1, 0.2], 4, threshold=0.8)[0] == "┄┄"


def test_render_trend_lays_out_title_value_range_and_chart() -> None:
    data = TrendData("ρ utilisation", values=(0.5, 0.9, 0.6), current=0.6,
                     fmt=lambda v: f"{v:.2f}", detail="c 8", threshold=0.8, bad="above",
                     aggregate="max")
    lines = render_trend(data, 24, 8).plain.splitlines()
    assert lines[0] == "ρ utilisation       0.60"
    assert lines[1] == "c 8" and lines[2] == "min 0.50  max 0.90"
    assert len(lines) == 8 and all(len(line) <= 24 for line in lines)
    chart = lines[3:]
    assert [row for row in chart if THRESHOLD_CHAR in row] == [chart[1]]


def test_a_value_across_the_threshold_takes_the_bad_style() -> None:
    styles = TrendStyles(value=Style(color="green"), bad=Style(color="red"))
    low_kappa = TrendData("κ", values=(0.7, 0.4), current=0.4, threshold=0.6, bad="below")
    good_kappa = replace(low_kappa, current=0.7)

    def value_styles(data: TrendData) -> set[str]:
        head = render_trend(data, 20, 5, styles).split("\n")[0]
        return {str(span.style) for span in head.spans}

    assert "red" in value_styles(low_kappa) and "green" not in value_styles(low_kappa)
    assert "green" in value_styles(good_kappa)


def test_no_data_shows_dashes_and_an_empty_chart() -> None:
    lines = render_trend(TrendData("Tokens/s"), 20, 5).plain.splitlines()
    assert lines[0].endswith(" -") and lines[1] == "min -  max -"
    assert all(not line.strip() for line in lines[2:])


@pytest.mark.parametrize(("value", "text"), [
    (5.0, "5"), (5.5, "5.5"), (0.333, "0.33"), (12.345, "12.3"), (400.0, "400")])
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1.0), (2.5, 2.5), ("3", None), (None, None), (True, None), (float("nan"), None)])
def test_number_accepts_only_finite_numbers(value: object, expected: float | None) -> None:
    assert number(value) == expected


def test_duration() -> None:
    assert [duration(s) for s in (4.21, 38.0, 90.0, 7500.0)] == ["4.2s", "38s", "1m30s",
                                                                 "2h05m"]
