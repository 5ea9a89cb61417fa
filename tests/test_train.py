"""The trainer: data validation, loss masking as the engine serves, a real CPU training.

The training tests run the real base (the GGUF the embedded engine serves) on a tiny data
set for a few steps; they need the ``[train]`` extra and are skipped without torch.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.cli.train import default_out
from pantheon_engine.errors import ConfigError
from pantheon_engine.specialize.train_data import (
    IGNORE,
    Example,
    TrainDataError,
    encode_example,
    file_sha256,
    load_examples,
    render_prompt,
)

needs_torch = pytest.mark.skipif(
    find_spec("torch") is None or find_spec("peft") is None,
    reason="the trainer is not installed (pip install -e '.[train]')")

SYSTEM = ("You fix the YAML front matter of one Markdown file. Reply with one JSON tool "
          "call, or {\"final\": \"...\"} when the file follows every rule.")


def example(key: str, value: str, *, source: str = "demo", task: str = "t0",
            kind: str = "tool") -> dict[str, Any]:
    user = (f"File notes/{key}.md:\n---\n{key.capitalize()}: {value}\n---\n# Notes\n\n"
            f"Rule: every key is lowercase.")
    reply = json.dumps({"tool": "fm_rename", "args": {"key": key.capitalize(), "to": key}})
    return {"messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": user},
                         {"role": "assistant", "content": reply}],
            "tools": [], "meta": {"source": source, "kind": kind, "task_id": task}}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in rows), encoding="utf-8")
    return path


# --- data --------------------------------------------------------------------------------


def test_examples_load_with_their_sources(tmp_path: Path) -> None:
    data = load_examples(write_jsonl(tmp_path / "d.jsonl", [
        example("title", "A", source="demo"), example("draft", "yes", source="search"),
        example("tags", "x", source="search", kind="final")]))
    assert len(data.examples) == 3
    assert data.counts("source") == {"demo": 1, "search": 2}
    assert data.counts("kind") == {"final": 1, "tool": 2}
    assert data.sha256 == file_sha256(tmp_path / "d.jsonl")
    assert data.examples[0].reply.startswith('{"tool": "fm_rename"')
    assert [m["role"] for m in data.examples[0].context] == ["system", "user"]


@pytest.mark.parametrize(("bad", "expected"), [
    ("not json", "line 2: not a JSON object"),
    ([1, 2], "line 2: expected a JSON object"),
    ({"messages": [{"role": "user", "content": "hi"}], "meta": {"source": "x"}},
     "line 2: messages"),
    ({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
      "meta": {"source": "x"}}, "the last message must be the assistant reply"),
    ({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": " "}],
      "meta": {"source": "x"}}, "reply to learn is empty"),
    ({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
      "meta": {}}, "line 2: meta.source"),
    ({"messages": [{"role": "robot", "content": "u"}, {"role": "assistant", "content": "a"}],
      "meta": {"source": "x"}}, "line 2: messages.0.role"),
])
def test_a_bad_line_refuses_the_file_naming_the_line(tmp_path: Path, bad: Any,
                                                      expected: str) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [example("title", "A"), bad,
                                              example("tags", "b")])
    with pytest.raises(TrainDataError, match=expected):
        load_examples(path)


def test_missing_or_empty_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainDataError, match="not found"):
        load_examples(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(TrainDataError, match="no examples"):
        load_examples(tmp_path / "empty.jsonl")


def test_the_eval_share_holds_out_whole_tasks(tmp_path: Path) -> None:
    from pantheon_engine.specialize.train import split_eval

    rows = [example("k", str(i), task=f"task{i // 3}") for i in range(30)]
    data = load_examples(write_jsonl(tmp_path / "d.jsonl", rows))
    train, held = split_eval(data, 0.2, seed=1)
    assert len(held) == 6 and sorted(train + held) == list(range(30))
    tasks = {data.examples[i].group for i in held}
    assert not tasks & {data.examples[i].group for i in train}
    assert split_eval(data, 0.2, seed=1) == (train, held)
    assert split_eval(data, 0.0, seed=1) == (list(range(30)), [])
    one_task = load_examples(write_jsonl(tmp_path / "one.jsonl",
                                         [example("k", str(i)) for i in range(4)]))
    assert split_eval(one_task, 0.5, seed=0)[1] == []  # the only task stays for training


def test_default_out_is_a_timestamped_folder_per_agent() -> None:
    out = default_out(Path("artifacts"), "doc.frontmatter", datetime(2026, 3, 4, 5, 6, 7))
    assert out == Path("artifacts/agents/doc.frontmatter/train-20260304-050607")


# --- the command line (refusals before anything heavy) -----------------------------------


def test_cli_refuses_bad_data_with_its_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [example("title", "A"), "{oops"])
    result = CliRunner().invoke(app, ["train", "doc.frontmatter", "--data", str(path),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "line 2" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_refuses_an_unknown_agent(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [example("title", "A")])
    result = CliRunner().invoke(app, ["train", "doc.frontmater", "--data", str(path)])
    assert result.exit_code == 2
    assert "unknown agent" in result.output and "doc.frontmatter" in result.output


# --- on the real base --------------------------------------------------------------------


@pytest.fixture(scope="module")
def gguf() -> Path:
    from pantheon_engine.engines.catalogue import resolve_model

    return resolve_model("smollm2-135m", allow_download=False, night=False)


@pytest.fixture(scope="module")
def tokenizer(gguf: Path) -> Any:
    """The tokenizer training uses: the one cached with the dequantised base."""
    from pantheon_engine.specialize.train import load_base

    _model, tok, _cached = load_base(gguf)
    return tok


@needs_torch
@pytest.mark.model
def test_only_the_last_reply_carries_loss_on_the_prompt_the_engine_sends(
        tokenizer: Any, gguf: Path) -> None:
    import openvino_genai

    reply = '{"final": "renamed Title to title"}'
    ex = Example.model_validate({
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "File a.md:\n---\nTitle: A\n---\n"},
            {"role": "assistant", "content": '{"tool": "fm_rename", "args": {}}'},
            {"role": "user", "content": "ok: renamed"},
            {"role": "assistant", "content": reply}],
        "meta": {"source": "demo", "kind": "final"}})
    encoded = encode_example(tokenizer, ex)
    cut = encoded.labels.index(next(t for t in encoded.labels if t != IGNORE))
    assert encoded.labels[:cut] == [IGNORE] * cut
    assert encoded.labels[cut:] == encoded.input_ids[cut:]
    assert encoded.labels[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(encoded.labels[cut:-1]) == reply
    assert encoded.answer_tokens == len(encoded.labels) - cut

    # The prompt is exactly what the embedded engine builds from the GGUF's chat template
    # and tokenizes: the earlier assistant turn is context, not a target.
    serving = openvino_genai.Tokenizer(str(gguf))
    prompt = serving.apply_chat_template(ex.context, add_generation_prompt=True)
    assert render_prompt(tokenizer, ex.context) == prompt
    assert encoded.input_ids[:cut] == [int(t) for t in serving.encode(prompt).input_ids.data[0]]
    assert prompt.endswith("<|im_start|>assistant\n") and "fm_rename" in prompt


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, gguf: Path) -> dict[str, Any]:
    """Three steps on eight examples: two conversations, four copies each."""
    from pantheon_engine.specialize.train import train_lora

    root = tmp_path_factory.mktemp("train")
    rows = [example("title" if i % 2 else "draft", "Yes", task=f"t{i}",
                    source="search" if i < 3 else "demo") for i in range(8)]
    data = write_jsonl(root / "data.jsonl", rows)
    events: list[Any] = []
    result = train_lora("doc.frontmatter", data, root / "adapter", base_gguf=gguf, rank=8,
                        alpha=16, lr=2e-3, batch=3, max_steps=3, eval_share=0.25,
                        eval_every=2, seed=0, checkpoints=[2, 9], progress=events.append)
    return {"result": result, "events": events, "data": data, "out": root / "adapter",
            "gguf": gguf}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@needs_torch
@pytest.mark.model
def test_training_overfits_a_repeated_tiny_set(trained: dict[str, Any]) -> None:
    result = trained["result"]
    steps = [m for m in _lines(trained["out"] / "metrics.jsonl") if "loss" in m]
    evals = [m for m in _lines(trained["out"] / "metrics.jsonl") if "eval_loss" in m]
    assert [m["step"] for m in steps] == [1, 2, 3]
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert [m["step"] for m in evals] == [0, 2, 3]
    # the held-out examples copy training ones: their loss falls as the set is learnt
    assert evals[-1]["eval_loss"] < 0.8 * evals[0]["eval_loss"]
    assert result.final_eval_loss == evals[-1]["eval_loss"]
    assert result.first_eval_loss == evals[0]["eval_loss"]
    # cosine from the peak (no warm-up steps at this size), decreasing
    lrs = [m["lr"] for m in steps]
    assert lrs[0] == pytest.approx(2e-3) and lrs[0] > lrs[1] > lrs[2] > 0


@needs_torch
@pytest.mark.model
def test_training_saves_the_adapter_and_what_made_it(trained: dict[str, Any]) -> None:
    from safetensors.torch import load_file

    from pantheon_engine.specialize.train import DEFAULT_TARGET

    out: Path = trained["out"]
    assert not out.with_name(out.name + ".partial").exists()
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 8 and adapter["lora_alpha"] == 16
    assert set(adapter["target_modules"]) == set(DEFAULT_TARGET)
    weights = load_file(out / "adapter_model.safetensors")
    b_weights = [name for name in weights if "lora_B" in name]
    assert len(b_weights) == 30 * len(DEFAULT_TARGET)  # every layer, every projection
    assert any(weights[name].abs().max() > 0 for name in b_weights)  # B starts at zero

    config = json.loads((out / "train_config.json").read_text())
    assert config["base_sha256"] == file_sha256(trained["gguf"])
    assert (config["rank"], config["alpha"], config["lr"], config["batch"],
            config["max_steps"], config["mode"]) == (8, 16, 2e-3, 3, 3, "lora")
    assert "torch" in config["versions"]

    data = json.loads((out / "data.json").read_text())
    assert data["sha256"] == file_sha256(trained["data"])
    assert (data["examples"], data["train_examples"], data["eval_examples"]) == (8, 6, 2)
    assert data["by_source"] == {"demo": 5, "search": 3}

    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["wall_s"] > 0
    assert summary["peak_rss_mb"] > 200  # a 135M model in fp32 and its gradients
    assert summary == trained["result"].model_dump()

    # the curve's checkpoint after step 2 (6 distinct examples); a step past the end is not
    assert summary["checkpoints"] == {"2": 6}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-2"]
    early = load_file(out / "checkpoints" / "step-2" / "adapter_model.safetensors")
    assert set(early) == set(weights)
    assert any(not bool((early[n] == weights[n]).all()) for n in b_weights)
    assert config["checkpoints"] == [2, 9]

    phases = [e.phase for e in trained["events"]]
    assert phases[0] == "load" and phases[-1] == "save"
    assert [e.step for e in trained["events"] if e.phase == "train"] == [1, 2, 3]


def test_a_used_output_folder_is_refused(tmp_path: Path) -> None:
    from pantheon_engine.specialize.train import train_lora

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "adapter_config.json").write_text("{}")
    data = write_jsonl(tmp_path / "d.jsonl", [example("title", "A")])
    fake = tmp_path / "base.gguf"
    fake.write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match="already exists"):
        train_lora("doc.frontmatter", data, tmp_path / "out", base_gguf=fake)


@needs_torch
@pytest.mark.model
def test_a_shared_prompt_prefix_computed_once_gives_the_same_loss_and_gradients(
        gguf: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from pantheon_engine.specialize.train import (
        MIN_SHARED_PREFIX,
        answer_loss_sum,
        load_base,
        shared_prefix_len,
    )

    model, tok, _ = load_base(gguf)
    torch.manual_seed(0)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                            target_modules=["q_proj", "v_proj", "down_proj"]))
    for name, param in lora.named_parameters():
        if "lora_B" in name:  # B starts at zero: give the adapter a say in the outputs
            param.data.normal_(0, 0.02)
    items = [encode_example(tok, Example.model_validate(example(k, v)))
             for k, v in (("title", "A"), ("draft", "yes please"), ("tags", "[x, y]"))]
    assert shared_prefix_len(items) >= MIN_SHARED_PREFIX  # the system prompt at least

    results = []
    for share in (False, True):
        lora.zero_grad()
        loss, count = answer_loss_sum(torch, lora.get_base_model(), items, tok.eos_token_id,
                                      "cpu", share_prefix=share)
        (loss / count).backward()
        grads = torch.cat([p.grad.flatten() for p in lora.parameters() if p.requires_grad])
        results.append((float(loss.detach()), count, grads))
    (plain, n_plain, g_plain), (shared, n_shared, g_shared) = results
    assert n_plain == n_shared == sum(e.answer_tokens for e in items)
    assert shared == pytest.approx(plain, rel=1e-5)
    assert float((g_shared - g_plain).norm() / g_plain.norm()) < 1e-4
