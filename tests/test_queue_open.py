"""Which queue a command opens (``--queue``, ``[queue] url``, the artifacts folder's), and
where a night's queue may be."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pantheon_engine.config import load_settings
from pantheon_engine.errors import ConfigError, PolicyError
from pantheon_engine.night.queue_model import QueueError
from pantheon_engine.night.queue_open import (
    check_night_queue,
    describe,
    is_postgres,
    open_queue,
    queue_location,
)


def test_the_queue_a_command_uses(tmp_path: Path) -> None:
    art = tmp_path / "artifacts"
    assert queue_location(art, None) == art / "queue.sqlite"
    assert queue_location(art, "  ") == art / "queue.sqlite"
    url = "postgresql://night@10.0.0.5:5432/pantheon"
    assert queue_location(art, url) == url
    assert queue_location(art, "postgres://h/db") == "postgres://h/db"
    assert queue_location(art, str(tmp_path / "q.sqlite")) == tmp_path / "q.sqlite"
    assert queue_location(art, "sqlite:/srv/q.sqlite") == Path("/srv/q.sqlite")
    assert is_postgres(url) and not is_postgres(tmp_path / "postgresql:")


def test_a_url_is_shown_without_its_password() -> None:
    assert describe("postgresql://night:s3cr:et@10.0.0.5/db") == \
        "postgresql://night:***@10.0.0.5/db"
    assert describe("postgresql://night@10.0.0.5/db") == "postgresql://night@10.0.0.5/db"


@pytest.mark.parametrize("url", [
    "postgresql://night@127.0.0.1:5432/pantheon",
    "postgresql://night@localhost/pantheon",
    "postgresql://night@[::1]/pantheon",
    "postgresql://night@10.1.2.3/pantheon",
    "postgresql://night@172.20.0.9/pantheon",
    "postgresql://night@192.168.1.20/pantheon",
    "postgresql://night@169.254.10.1/pantheon",
    "postgresql://night@[fd12:3456::5]/pantheon",
    "postgresql:///pantheon?host=/var/run/postgresql",
    "postgresql://%2Fvar%2Frun%2Fpostgresql/pantheon",
])
def test_a_night_accepts_a_queue_on_this_machine_or_the_local_network(url: str) -> None:
    check_night_queue(url)


@pytest.mark.parametrize(("url", "host"), [
    ("postgresql://night@8.8.8.8/pantheon", "8.8.8.8"),
    ("postgresql://night:pw@[2001:4860:4860::8888]:5432/pantheon", "2001:4860:4860::8888"),
    ("postgresql://night@100.64.0.1/pantheon", "100.64.0.1"),  # carrier-grade NAT
    ("postgresql://night@10.0.0.5,8.8.4.4/pantheon", "8.8.4.4"),  # every host is checked
])
def test_a_night_refuses_a_queue_beyond_the_local_network(url: str, host: str) -> None:
    # IP literals only: the check parses them, nothing is looked up or sent
    with pytest.raises(PolicyError, match=rf"night mode refuses queue host '{host}'") as info:
        check_night_queue(url)
    assert info.value.exit_code == 3
    assert "pw" not in str(info.value)


def test_an_sqlite_queue_needs_no_check(tmp_path: Path) -> None:
    check_night_queue(tmp_path / "queue.sqlite")


def test_without_psycopg_a_postgresql_queue_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pantheon_engine.night.jobqueue_pg", None)
    with pytest.raises(QueueError, match="needs psycopg 3") as info:
        open_queue("postgresql://night@127.0.0.1/pantheon")
    assert "pip install 'pantheon[postgres]'" in str(info.value)


def test_queue_table_of_pantheon_toml(tmp_path: Path) -> None:
    config = tmp_path / "pantheon.toml"
    config.write_text('[queue]\nurl = "postgresql://night@10.0.0.5/pantheon"\n')
    assert load_settings(config).queue.url == "postgresql://night@10.0.0.5/pantheon"
    config.write_text('[engine]\nname = "replay"\n')
    assert load_settings(config).queue.url is None
    config.write_text('[queue]\nurll = "postgresql://h/db"\n')
    with pytest.raises(ConfigError, match=r"pantheon.toml:2: unknown key 'urll'.*'url'"):
        load_settings(config)
