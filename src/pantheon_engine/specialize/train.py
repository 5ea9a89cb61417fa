"""Train a per-agent LoRA adapter on mined examples, on CPU (or CUDA when present).

The base is the GGUF the embedded engine serves: Hugging Face ``transformers`` reads and
dequantises it (about 35 s for SmolLM2-135M), and the result is saved once to a cache
folder keyed by the GGUF's sha256, so later trainings load it in a second or two. On
CUDA with ``bitsandbytes`` installed the cached base is loaded in 4 bits (QLoRA, NF4);
without CUDA it trains in fp32.

The loss covers the assistant reply tokens and their end-of-turn token only
(:func:`~pantheon_engine.specialize.train_data.encode_example`), and logits are computed
only at the positions that predict them: the hidden states are gathered before the
language-model head, so a 49k-word vocabulary is not projected for every prompt token.

What a training leaves in ``out_dir`` (written to ``<out_dir>.partial`` and renamed when
complete, so a folder under that name is always a finished training):

* ``adapter_model.safetensors``, ``adapter_config.json``: the PEFT adapter;
* ``train_config.json``: every hyperparameter, the base GGUF and its sha256, versions;
* ``data.json``: the data file's sha256, example counts per ``meta.source`` and ``kind``;
* ``metrics.jsonl``: one line per step (loss, lr) and per evaluation (eval_loss);
* ``summary.json``: wall time, peak memory, steps, first and final losses;
* ``checkpoints/step-<S>/``: the adapter after step ``S``, for each step asked for with
  ``checkpoints`` (a learning curve evaluates them: after ``S`` steps of ``batch`` examples
  in the first epoch, the adapter has seen ``S × batch`` distinct examples once each).
"""

from __future__ import annotations

import math
import os
import random
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from pantheon_engine.atomic import append_jsonl, atomic_write_json
from pantheon_engine.errors import ConfigError
from pantheon_engine.specialize.train_data import (
    IGNORE,
    Encoded,
    TrainData,
    encode_example,
    file_sha256,
    load_examples,
)

__all__ = [
    "DEFAULT_TARGET",
    "TrainConfig",
    "TrainEvent",
    "TrainResult",
    "base_cache_dir",
    "load_base",
    "train_lora",
]

DEFAULT_TARGET = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
TRAIN_HINT = "install the trainer: pip install -e '.[train]'"

Mode = Literal["lora", "qlora"]


class TrainConfig(BaseModel):
    """Every setting of one training, saved as ``train_config.json``."""

    agent: str
    base_gguf: str
    base_sha256: str
    rank: int
    alpha: float
    dropout: float
    lr: float
    epochs: int
    batch: int
    micro_batch: int
    target: list[str]
    eval_share: float
    eval_every: int
    warmup_share: float
    weight_decay: float
    max_grad_norm: float
    max_tokens: int
    share_prefix: bool
    seed: int
    max_steps: int | None
    checkpoints: list[int] = []
    mode: Mode
    device: str
    dtype: str
    versions: dict[str, str]


class TrainResult(BaseModel):
    """What :func:`train_lora` hands back (also saved as ``summary.json``)."""

    agent: str
    out_dir: str
    steps: int
    epochs_done: float
    train_examples: int
    eval_examples: int
    skipped_too_long: int
    answer_tokens: int
    first_loss: float | None
    final_loss: float | None
    first_eval_loss: float | None
    final_eval_loss: float | None
    wall_s: float
    load_s: float
    train_s: float
    seconds_per_step: float
    peak_rss_mb: float
    peak_device_mb: float | None
    mode: Mode
    device: str
    base_cached: bool
    checkpoints: dict[str, int] = {}
    """step (as text, like JSON keys) → distinct training examples seen by then, for each
    saved checkpoint"""


@dataclass(frozen=True)
class TrainEvent:
    """A progress report: ``phase`` is ``load`` (base loading), ``train`` (a step done),
    ``eval`` (an evaluation done) or ``save``."""

    phase: Literal["load", "train", "eval", "save"]
    step: int = 0
    total: int = 0
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    message: str = ""


ProgressFn = Callable[[TrainEvent], None]


# --- the base model ----------------------------------------------------------------------


def _torch() -> Any:
    try:
        import peft  # noqa: F401  (checked here so a missing piece fails before any work)
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"the trainer needs torch, transformers and peft: {exc}",
                          hint=TRAIN_HINT) from None
    return torch


def base_cache_dir(sha256: str) -> Path:
    """Where the dequantised copy of the GGUF with this sha256 lives."""
    from pantheon_engine.engines.model_cache import pantheon_home

    return pantheon_home() / "train-base" / sha256[:24]


def _dequantise_to(gguf: Path, sha256: str, target: Path) -> None:
    """Load a GGUF with transformers (dequantising it) and save it as safetensors."""
    torch = _torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype=torch.float32)
    # The weights are plain fp32 tensors now; only the loader's marker says "gguf".
    model.hf_quantizer = None  # type: ignore[assignment]  # typed as a submodule by torch
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    atomic_write_json(tmp / "pantheon_source.json", {
        "gguf": str(gguf), "sha256": sha256,
        "created": datetime.now(UTC).isoformat(timespec="seconds")})
    try:
        tmp.rename(target)
    except OSError:  # another training cached it first
        shutil.rmtree(tmp, ignore_errors=True)


def load_base(gguf: Path, *, sha256: str | None = None, quantize: bool = False,
              device: str = "cpu", progress: ProgressFn | None = None,
              ) -> tuple[Any, Any, bool]:
    """The base model and tokenizer for ``gguf``: ``(model, tokenizer, was_cached)``.

    The first call dequantises the GGUF into the cache (:func:`base_cache_dir`); later
    calls load the cached copy. ``quantize`` loads it in 4 bits (CUDA and bitsandbytes).
    """
    torch = _torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sha256 = sha256 or file_sha256(gguf)
    folder = base_cache_dir(sha256)
    cached = (folder / "config.json").is_file()
    if not cached:
        if progress:
            progress(TrainEvent("load", message=f"dequantising {gguf.name} (once)"))
        _dequantise_to(gguf, sha256, folder)
    if progress:
        progress(TrainEvent("load", message=f"loading the base from {folder}"))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if quantize:
        from transformers import BitsAndBytesConfig

        model = AutoModelForCausalLM.from_pretrained(
            str(folder), device_map={"": device},
            quantization_config=BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16))
    else:
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
        model = model.to(device)  # type: ignore[arg-type]  # transformers' stub wants a model
    return model, tokenizer, cached


def _pick_device(quantize: bool | None) -> tuple[str, Mode]:
    torch = _torch()
    if not torch.cuda.is_available():
        if quantize:
            raise ConfigError("4-bit training (QLoRA) needs a CUDA device",
                              hint="train without quantize on CPU")
        return "cpu", "lora"
    if quantize is False:
        return "cuda", "lora"
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        if quantize:
            raise ConfigError("4-bit training (QLoRA) needs bitsandbytes",
                              hint="pip install bitsandbytes") from None
        return "cuda", "lora"
    return "cuda", "qlora"


# --- batches and the loss ----------------------------------------------------------------


def split_eval(data: TrainData, share: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training and the held-out examples. Whole tasks (``meta.task_id``) are
    held out together; at least one example is held out when ``share > 0`` and there are
    two or more tasks, and at least one task stays for training."""
    n = len(data.examples)
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(data.examples):
        groups.setdefault(example.group or f"#{i}", []).append(i)
    if share <= 0 or len(groups) < 2:
        return list(range(n)), []
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    want = max(1, round(n * share))
    held: list[int] = []
    for key in keys[:-1]:  # the last group always trains
        if len(held) >= want:
            break
        held.extend(groups[key])
    held_set = set(held)
    return [i for i in range(n) if i not in held_set], sorted(held)


def epoch_batches(lengths: Sequence[int], indices: Sequence[int], batch: int,
                  rng: random.Random) -> list[list[int]]:
    """One epoch's batches: shuffled, then sorted by length within windows of 16 batches
    (less padding), then the batches shuffled again."""
    order = list(indices)
    rng.shuffle(order)
    window = batch * 16
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches.extend(chunk[j:j + batch] for j in range(0, len(chunk), batch))
    rng.shuffle(batches)
    return batches


def _collate(torch: Any, items: Sequence[Encoded], pad_id: int, device: str) -> tuple[Any, Any]:
    """Right-padded ids and labels. No attention mask: under causal attention a real token
    never sees the padding after it, and the padding's own outputs carry no label. Without
    a mask the attention runs its fused causal kernel (less memory, same result)."""
    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(items):
        ids[row, :len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, :len(e.labels)] = torch.tensor(e.labels)
    return ids.to(device), labels.to(device)


MIN_SHARED_PREFIX = 16
"""A batch's common prompt prefix shorter than this is not worth a separate pass."""


def _cache_kwarg(body: Any) -> str:
    """The name under which the model body takes a KV cache (``cache`` in recent releases
    of transformers, ``past_key_values`` before)."""
    import inspect

    params = inspect.signature(body.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def shared_prefix_len(items: Sequence[Encoded]) -> int:
    """How many leading tokens every item shares, stopping before the last prompt token of
    the shortest prompt (the prefix must not hold a position whose output is scored)."""
    if len(items) < 2:
        return 0
    first = items[0].input_ids
    limit = min(e.labels.index(next(x for x in e.labels if x != IGNORE)) for e in items) - 1
    length = 0
    while length < limit and all(e.input_ids[length] == first[length] for e in items[1:]):
        length += 1
    return length


def answer_loss_sum(torch: Any, causal_lm: Any, items: Sequence[Encoded], pad_id: int,
                    device: str, *, share_prefix: bool = True) -> tuple[Any, int]:
    """Summed cross-entropy over the answer tokens of ``items`` and how many there are.

    Runs the transformer body, keeps the hidden states at the positions that predict a
    labelled token, and projects only those through the language-model head. With
    ``share_prefix``, a long prompt prefix common to every item (the agent's system prompt,
    the task) runs once: its keys and values are repeated across the batch and the rest of
    each item attends to them, gradients flowing back through both."""
    shared = shared_prefix_len(items) if share_prefix else 0
    body = causal_lm.model
    cache: Any = None
    if shared >= MIN_SHARED_PREFIX:
        from transformers import DynamicCache

        cache = {_cache_kwarg(body): DynamicCache()}
        prefix = torch.tensor([items[0].input_ids[:shared]], dtype=torch.long, device=device)
        body(input_ids=prefix, use_cache=True, **cache)
        next(iter(cache.values())).batch_repeat_interleave(len(items))
        items = [Encoded(input_ids=e.input_ids[shared:], labels=e.labels[shared:])
                 for e in items]
    ids, labels = _collate(torch, items, pad_id, device)
    if cache is None:
        hidden = body(input_ids=ids, use_cache=False)
    else:
        hidden = body(input_ids=ids, use_cache=True, **cache)
    states = hidden.last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = causal_lm.lm_head(states[keep]).float()
    loss = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")
    return loss, int(keep.sum())


def lr_factor(step: int, *, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then a cosine to zero at ``total``; no step
    (first or last) trains at a zero learning rate."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


# --- training ----------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in ("torch", "transformers", "peft", "bitsandbytes"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def train_lora(
    agent: str,
    data_jsonl: Path | str,
    out_dir: Path | str,
    *,
    base_gguf: Path | str,
    rank: int = 16,
    alpha: float = 32,
    dropout: float = 0.05,
    lr: float = 2e-4,
    epochs: int = 3,
    batch: int = 8,
    micro_batch: int = 4,
    target: Sequence[str] = DEFAULT_TARGET,
    eval_share: float = 0.1,
    eval_every: int = 50,
    warmup_share: float = 0.05,
    weight_decay: float = 0.0,
    max_grad_norm: float = 1.0,
    max_tokens: int = 2048,
    share_prefix: bool = True,
    seed: int = 0,
    max_steps: int | None = None,
    quantize: bool | None = None,
    checkpoints: Sequence[int] = (),
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train a LoRA adapter for ``agent`` on ``data_jsonl`` and save it in ``out_dir``.

    ``batch`` examples make one optimizer step, run ``micro_batch`` at a time (gradients
    accumulated: the same step, less memory). The learning rate warms up over
    ``warmup_share`` of the steps, then follows a cosine to zero. ``max_steps``, when
    given, sets the number of steps (cycling over the data as often as needed) instead of
    ``epochs``. ``eval_share`` of the examples (whole tasks, see :func:`split_eval`) is held
    out and its loss measured before training, every ``eval_every`` steps and at the end.
    ``share_prefix`` runs a prompt prefix common to a micro-batch once
    (:func:`answer_loss_sum`). ``quantize``: ``None`` trains in 4 bits when CUDA and
    bitsandbytes are present. ``checkpoints``: steps after which the adapter is also saved
    under ``checkpoints/step-<S>/`` (steps beyond the last are ignored).
    """
    started = time.monotonic()
    for name, value, low in (("rank", rank, 1), ("epochs", epochs, 1), ("batch", batch, 1),
                             ("micro_batch", micro_batch, 1), ("eval_every", eval_every, 1),
                             ("max_tokens", max_tokens, 8)):
        if value < low:
            raise ConfigError(f"{name} must be at least {low}, got {value}")
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"max_steps must be at least 1, got {max_steps}")
    if lr <= 0 or alpha <= 0:
        raise ConfigError("lr and alpha must be positive")
    if any(c < 1 for c in checkpoints):
        raise ConfigError(f"checkpoints are steps (at least 1), got {sorted(checkpoints)}")
    if not 0 <= eval_share < 1 or not 0 <= warmup_share < 1 or not 0 <= dropout < 1:
        raise ConfigError("eval_share, warmup_share and dropout must lie in [0, 1)")
    gguf = Path(base_gguf).expanduser()
    if not gguf.is_file() or gguf.suffix.lower() != ".gguf":
        raise ConfigError(f"the base must be a GGUF file: {gguf}",
                          hint="the trainer loads the same GGUF the embedded engine serves")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} already exists and is not empty",
                          hint="choose another --out (each training gets a fresh folder)")
    data = load_examples(data_jsonl)

    torch = _torch()
    from peft import LoraConfig, get_peft_model

    device, mode = _pick_device(quantize)
    base_sha = file_sha256(gguf)
    model, tokenizer, cached = load_base(gguf, sha256=base_sha, quantize=mode == "qlora",
                                         device=device, progress=progress)
    load_s = time.monotonic() - started

    encoded = [encode_example(tokenizer, e) for e in data.examples]
    fits = [len(e.input_ids) <= max_tokens for e in encoded]
    train_idx, eval_idx = split_eval(data, eval_share, seed)
    skipped = sum(not ok for ok in fits)
    train_idx = [i for i in train_idx if fits[i]]
    eval_idx = [i for i in eval_idx if fits[i]]
    if not train_idx:
        raise ConfigError(f"no training example fits in max_tokens={max_tokens} "
                          f"({skipped} too long)", hint="raise max_tokens")
    steps_per_epoch = math.ceil(len(train_idx) / batch)
    total = max_steps if max_steps is not None else epochs * steps_per_epoch
    warmup = round(total * warmup_share)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
        else tokenizer.eos_token_id

    if mode == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    torch.manual_seed(seed)  # the adapter's initial A matrices and the dropout masks
    peft_model = get_peft_model(model, LoraConfig(
        # peft annotates lora_alpha as int; it only scales by alpha / r, a float works
        r=rank, lora_alpha=alpha,  # type: ignore[arg-type]
        lora_dropout=dropout, target_modules=list(target),
        bias="none", task_type="CAUSAL_LM"))
    causal_lm = peft_model.get_base_model()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup=warmup, total=total))

    config = TrainConfig(
        agent=agent, base_gguf=str(gguf.resolve()), base_sha256=base_sha, rank=rank,
        alpha=alpha, dropout=dropout, lr=lr, epochs=epochs, batch=batch,
        micro_batch=min(micro_batch, batch), target=list(target), eval_share=eval_share,
        eval_every=eval_every, warmup_share=warmup_share, weight_decay=weight_decay,
        max_grad_norm=max_grad_norm, max_tokens=max_tokens, share_prefix=share_prefix,
        seed=seed, max_steps=max_steps, checkpoints=sorted(set(checkpoints)),
        mode=mode, device=device,
        dtype="nf4" if mode == "qlora" else str(next(model.parameters()).dtype),
        versions=_versions())
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    atomic_write_json(partial / "train_config.json", config.model_dump())
    atomic_write_json(partial / "data.json", {
        "path": data.path, "sha256": data.sha256, "examples": len(data.examples),
        "train_examples": len(train_idx), "eval_examples": len(eval_idx),
        "skipped_too_long": skipped, "by_source": data.counts("source"),
        "by_kind": data.counts("kind"),
        "eval_tasks": sorted({data.examples[i].group or f"#{i}" for i in eval_idx})})
    metrics = partial / "metrics.jsonl"
    micro = config.micro_batch

    def evaluate() -> float | None:
        if not eval_idx:
            return None
        peft_model.eval()
        loss_sum, count = 0.0, 0
        with torch.no_grad():
            for j in range(0, len(eval_idx), micro):
                items = [encoded[i] for i in eval_idx[j:j + micro]]
                loss, n = answer_loss_sum(torch, causal_lm, items, pad_id, device,
                                          share_prefix=share_prefix)
                loss_sum, count = loss_sum + float(loss), count + n
        peft_model.train()
        return loss_sum / max(count, 1)

    def record_eval(step: int) -> float | None:
        value = evaluate()
        if value is not None:
            append_jsonl(metrics, {"step": step, "eval_loss": value})
            if progress:
                progress(TrainEvent("eval", step=step, total=total, eval_loss=value))
        return value

    lengths = [len(e.input_ids) for e in encoded]
    rng = random.Random(seed)
    losses: list[float] = []
    first_eval = last_eval = record_eval(0)
    train_started = time.monotonic()
    answer_tokens = 0
    step_seconds = 0.0
    peft_model.train()
    step = 0
    pending: list[list[int]] = []
    wanted = {c for c in checkpoints if c <= total}
    saved: dict[str, int] = {}
    while step < total:
        if not pending:
            pending = epoch_batches(lengths, train_idx, batch, rng)
        indices = pending.pop(0)
        tick = time.monotonic()
        n_tokens = sum(encoded[i].answer_tokens for i in indices)
        loss_total = 0.0
        for j in range(0, len(indices), micro):
            items = [encoded[i] for i in indices[j:j + micro]]
            loss, _ = answer_loss_sum(torch, causal_lm, items, pad_id, device,
                                      share_prefix=share_prefix)
            (loss / n_tokens).backward()
            loss_total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        current_lr = schedule.get_last_lr()[0]
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        answer_tokens += n_tokens
        step_loss = loss_total / n_tokens
        losses.append(step_loss)
        step_seconds += time.monotonic() - tick
        append_jsonl(metrics, {
            "step": step, "epoch": round(step / steps_per_epoch, 4), "loss": step_loss,
            "lr": current_lr, "tokens": n_tokens,
            "seconds": round(time.monotonic() - tick, 3)})
        if progress:
            progress(TrainEvent("train", step=step, total=total, loss=step_loss,
                                lr=current_lr, eval_loss=last_eval))
        if step in wanted:
            seen = min(step * batch, len(train_idx))
            peft_model.save_pretrained(str(partial / "checkpoints" / f"step-{step}"))
            (partial / "checkpoints" / f"step-{step}" / "README.md").unlink(missing_ok=True)
            saved[str(step)] = seen
            append_jsonl(metrics, {"step": step, "checkpoint": f"checkpoints/step-{step}",
                                   "examples_seen": seen})
        if step % eval_every == 0 and step < total:
            last_eval = record_eval(step)
    if eval_idx:
        last_eval = record_eval(total)
    train_s = time.monotonic() - train_started

    if progress:
        progress(TrainEvent("save", step=total, total=total, message=str(out)))
    peft_model.save_pretrained(str(partial))
    (partial / "README.md").unlink(missing_ok=True)  # PEFT's empty model card
    tail = losses[-min(5, len(losses)):]
    result = TrainResult(
        agent=agent, out_dir=str(out), steps=total,
        epochs_done=round(total / steps_per_epoch, 4), train_examples=len(train_idx),
        eval_examples=len(eval_idx), skipped_too_long=skipped, answer_tokens=answer_tokens,
        first_loss=losses[0] if losses else None,
        final_loss=sum(tail) / len(tail) if tail else None,
        first_eval_loss=first_eval, final_eval_loss=last_eval,
        wall_s=round(time.monotonic() - started, 2), load_s=round(load_s, 2),
        train_s=round(train_s, 2),
        seconds_per_step=round(step_seconds / total, 3),
        peak_rss_mb=round(_peak_rss_mb(), 1),
        peak_device_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if device == "cuda" else None,
        mode=mode, device=device, base_cached=cached, checkpoints=saved)
    atomic_write_json(partial / "summary.json", result.model_dump())
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.rmdir()  # checked empty above
    partial.rename(out)
    return result


def summary_lines(result: TrainResult) -> list[str]:
    """A few lines for a terminal."""
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    return [
        f"adapter: {result.out_dir}",
        f"steps {result.steps} ({result.epochs_done:g} epochs) on {result.train_examples} "
        f"examples, {result.eval_examples} held out; {result.mode} on {result.device}",
        f"loss {fmt(result.first_loss)} -> {fmt(result.final_loss)}; eval loss "
        f"{fmt(result.first_eval_loss)} -> {fmt(result.final_eval_loss)}",
        f"wall {result.wall_s:.0f} s (load {result.load_s:.0f} s, "
        f"{result.seconds_per_step:.2f} s/step), peak RSS {result.peak_rss_mb:.0f} MB",
    ]
