"""Files a user wrote that do not fit: every problem, each with its file and line, and for a
typo the name it probably meant (rules files, pantheon.toml, flows, `curve add`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.config import load_settings
from pantheon_engine.docops.rules import load_rules_file, parse_rules
from pantheon_engine.errors import ConfigError, FlowError, SpecError
from pantheon_engine.file_problems import closest, toml_lines, yaml_lines
from pantheon_engine.run.flows import load_flow
from pantheon_tui.context import load_tui_settings

from conftest import EXAMPLES

runner = CliRunner()


def _rules_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_rules_file(path)
    return str(caught.value)


# --------------------------------------------------------------------------- rules files


def test_a_misspelt_rule_key_is_named_with_its_line_and_the_known_name(tmp_path: Path) -> None:
    text = _rules_error(tmp_path, "rules:\n  - kind: absent\n    kee: draft\n")
    assert text.splitlines()[0] == (
        f"{tmp_path / 'rules.yaml'}:3: unknown key 'kee' in rules[0] (did you mean 'key'?)")
    assert "Field required" not in text  # the missing `key` is the same typo, said once


def test_a_misspelt_top_key_is_named_not_read_as_a_list(tmp_path: Path) -> None:
    text = _rules_error(tmp_path, "rulez:\n  - kind: absent\n    key: x\n")
    assert text.splitlines()[0].endswith(
        "rules.yaml:1: unknown key 'rulez' (did you mean 'rules'?)")
    assert "valid list" not in text


def test_every_problem_of_a_rules_file_is_reported(tmp_path: Path) -> None:
    text = _rules_error(tmp_path, (
        "rules:\n"
        "  - kind: absnt\n"       # line 2: a kind that does not exist
        "    key: x\n"
        "  - kind: equals\n"
        "    key: status\n"
        "    value: ''\n"         # line 6: too short
        "  - {key: y}\n"))        # line 7: no kind
    lines = text.splitlines()
    assert lines[0].endswith("rules.yaml: 3 problems")
    assert "rules.yaml:2: unknown kind 'absnt' in rules[0] (did you mean 'absent'?" in lines[1]
    assert "rules.yaml:6: rules[1].value: String should have at least 1 character" in lines[2]
    assert lines[3].endswith("rules.yaml:7: missing key 'kind' in rules[2]")


def test_a_yaml_syntax_error_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    text = _rules_error(tmp_path, "rules:\n  - kind: absent\n   key: x\n")
    first, *rest = text.splitlines()
    assert first.startswith(f"{tmp_path / 'rules.yaml'}:3:4: not valid YAML: ")
    assert "<unicode string>" not in text and all(line.startswith("  hint:") for line in rest)


def test_rules_given_as_a_bare_list_name_the_rule_too() -> None:
    with pytest.raises(SpecError, match=r"missing key 'key' in rules\[1\]"):
        parse_rules([{"kind": "lowercase_keys"}, {"kind": "absent"}])


def test_queue_add_refuses_a_misspelt_rules_file_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: a\n---\n# A\n")
    (tmp_path / "rules.yaml").write_text("rules:\n  - kind: absent\n    kee: draft\n")
    result = runner.invoke(app, ["queue", "add", "docops", "--each", "*.md", "--workspace",
                                 str(tmp_path), "--rules", str(tmp_path / "rules.yaml"),
                                 "--artifacts", str(tmp_path / "artifacts")])
    assert result.exit_code == 2
    assert "rules.yaml:3: unknown key 'kee' in rules[0] (did you mean 'key'?)" in result.stderr
    assert not (tmp_path / "artifacts" / "queue.sqlite").exists()


# --------------------------------------------------------------------------- pantheon.toml


def test_unknown_tables_and_keys_of_pantheon_toml_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "pantheon.toml"
    config.write_text('[enigne]\nname = "replay"\n\n[engine]\nconcurency = 4\n'
                      'name = "openvinno"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value).splitlines() == [
        f"{config}: 3 problems",
        f"  {config}:1: unknown key 'enigne' (did you mean 'engine'?)",
        f"  {config}:5: unknown key 'concurency' in engine (did you mean 'concurrency'?)",
        f"  {config}:6: engine.name: Input should be 'openvino', 'openai' or 'replay' "
        "(got 'openvinno')",
    ]


def test_the_engine_accepts_the_rooms_table(tmp_path: Path) -> None:
    config = tmp_path / "pantheon.toml"
    config.write_text('[engine]\nname = "replay"\n\n[tui]\ntheme = "pantheon-day"\n')
    assert load_settings(config).engine.name == "replay"


def test_a_misspelt_room_setting_is_named_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "pantheon.toml"
    config.write_text('[engine]\nname = "openvino"\n\n[tui]\nsample_windw = 5\n')
    with pytest.raises(ConfigError, match=r"pantheon\.toml:5: unknown key 'sample_windw' in "
                                          r"tui \(did you mean 'sample_window'\?\)"):
        load_tui_settings(config)


def test_a_toml_syntax_error_is_one_line_with_file_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "pantheon.toml"
    config.write_text("[engine]\nname = \n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value) == f"{config}:2:8: not valid TOML: Invalid value"


def test_a_command_reading_a_misspelt_config_exits_2_before_anything(tmp_path: Path) -> None:
    config = tmp_path / "pantheon.toml"
    config.write_text('[enigne]\nname = "replay"\n')
    result = runner.invoke(app, ["run", "docops", "--input",
                                 str(EXAMPLES / "docops" / "input.json"), "--config",
                                 str(config), "--artifacts", str(tmp_path / "artifacts")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {config}:1: unknown key 'enigne' (did you mean " \
        "'engine'?)\n"
    assert not (tmp_path / "artifacts").exists()


# --------------------------------------------------------------------------- flows


def test_a_misspelt_flow_key_points_at_the_key_and_is_said_once(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("name: x\nnodse:\n  - id: a\n    agent: codegen\n    inputs: [input]\n")
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    text = str(caught.value)
    assert "unknown field 'nodse' (line 2)" in text and "did you mean 'nodes'?" in text
    assert "missing required field 'nodes'" not in text


# --------------------------------------------------------------------------- curve add


def test_curve_add_with_a_file_that_is_not_an_eval_says_so_in_one_line(tmp_path: Path) -> None:
    wrong = tmp_path / "e.json"
    wrong.write_text(json.dumps({"agent": "doc.frontmatter", "suite": 3}))
    result = runner.invoke(app, ["curve", "add", "doc.frontmatter", "--scope", "rule",
                                 "--examples", "3", "--eval", str(wrong),
                                 "--artifacts", str(tmp_path / "artifacts")])
    assert result.exit_code == 2
    first, hint = result.stderr.splitlines()
    assert first.startswith(f"error: {wrong}:1: not an eval.json: missing eval_id, engine")
    assert "suite: Input should be a valid string (got 3)" in first
    assert hint.startswith("  hint:")
    assert "validation error" not in result.stderr and "pydantic.dev" not in result.stderr


def test_curve_add_with_broken_json_names_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "e.json"
    broken.write_text('{"agent": \n')
    result = runner.invoke(app, ["curve", "add", "doc.frontmatter", "--scope", "rule",
                                 "--examples", "3", "--eval", str(broken),
                                 "--artifacts", str(tmp_path / "artifacts")])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: {broken}:2:1: not valid JSON: " \
        "Expecting value"


# --------------------------------------------------------------------------- the helper


def test_lines_of_yaml_and_toml_keys() -> None:
    assert yaml_lines("a: 1\nb:\n  - x: 2\n    y: 3\n")[("b", 0, "y")] == 4
    lines = toml_lines('top = 1\n[engine]\nname = "x"  # c\n"quoted.key" = 2\n'
                       's = """\nfake = 1\n"""\n[tui.keys]\n"a.b" = "c"\n')
    assert lines[("top",)] == 1 and lines[("engine",)] == 2
    assert lines[("engine", "name")] == 3 and lines[("engine", "quoted.key")] == 4
    assert ("engine", "fake") not in lines  # inside a multi-line string
    assert lines[("tui", "keys", "a.b")] == 9


def test_closest_name() -> None:
    assert closest("enigne", ["engine", "tui"]) == "engine"
    assert closest("zzz", ["engine", "tui"]) is None
