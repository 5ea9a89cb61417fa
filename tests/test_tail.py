"""JsonlTail: the incremental reader the live screens use on metrics.jsonl."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pantheon_engine.atomic import append_jsonl
from pantheon_engine.night.tail import JsonlTail, latest_night, night_dirs


def test_reads_only_new_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    tail = JsonlTail(path)
    assert tail.read_new() == []  # no file yet
    append_jsonl(path, {"t": 1})
    append_jsonl(path, {"t": 2})
    assert [r["t"] for r in tail.read_new()] == [1, 2]
    assert tail.read_new() == []
    append_jsonl(path, {"t": 3})
    assert [r["t"] for r in tail.read_new()] == [3]


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"t": 1})
    with path.open("a") as handle:
        handle.write('{"t": 2, "rho"')
    tail = JsonlTail(path)
    assert [r["t"] for r in tail.read_new()] == [1]
    assert tail.read_new() == []
    with path.open("a") as handle:
        handle.write(': 0.5}\n')
    assert tail.read_new() == [{"t": 2, "rho": 0.5}]


def test_garbage_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"t": 1}\nnot json\n[1, 2]\n\xff\xfe\n\n{"t": 2}\n')
    tail = JsonlTail(path)
    assert [r["t"] for r in tail.read_new()] == [1, 2]
    assert tail.skipped == 3


def test_a_replaced_or_truncated_file_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    for t in range(5):
        append_jsonl(path, {"t": t})
    tail = JsonlTail(path)
    assert len(tail.read_new()) == 5
    replacement = tmp_path / "new.jsonl"
    append_jsonl(replacement, {"t": 100})
    os.replace(replacement, path)
    assert tail.read_new() == [{"t": 100}]
    path.write_text("")
    append_jsonl(path, {"t": 200})
    assert tail.read_new() == [{"t": 200}]
    assert tail.resets >= 2


def test_small_chunks_and_a_budget_still_give_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    records = [{"t": t, "pad": "x" * (t % 50)} for t in range(300)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    tail = JsonlTail(path, chunk_bytes=7)
    got = tail.read_new(max_bytes=1000)
    assert 0 < len(got) < 300
    got += tail.read_new()
    assert got == records


def test_latest_night_is_the_one_written_last(tmp_path: Path) -> None:
    assert latest_night(tmp_path) is None
    for name in ("b-night", "a-night"):
        append_jsonl(tmp_path / "nights" / name / "metrics.jsonl", {"t": 1})
        time.sleep(0.01)
    old = time.time() - 100
    os.utime(tmp_path / "nights" / "b-night" / "metrics.jsonl", (old, old))
    assert [p.name for p in night_dirs(tmp_path)] == ["b-night", "a-night"]
    latest = latest_night(tmp_path)
    assert latest is not None and latest.name == "a-night"
