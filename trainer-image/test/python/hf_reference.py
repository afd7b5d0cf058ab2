"""Reference numbers from Hugging Face transformers for the trainer's parity tests.

  make <cases.json>     cases: a list of {dir, config, seed}. Builds a random model per case, saves it to dir
                        (safetensors) and prints, per case, {input_ids, labels, attention_mask, logits, loss, grads}
                        for a fixed batch, as one JSON list (grads: every parameter's gradient of the mean loss, by
                        name, flattened)
  logits <cases.json>   cases: a list of {dir, batch}. Loads each dir with from_pretrained and prints, per case,
                        {logits, loss} for the batch, as one JSON list
  tokenizer <case.json>  case: {dir, texts, messages}. Loads dir's tokenizer with AutoTokenizer and prints {ids (per
                        text, no special tokens added), chat (messages through apply_chat_template, untokenized)}
One process serves all cases: importing torch is slow.
"""

import json
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer


def batch_for(vocab_size: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    batch, seq = 2, 8
    input_ids = torch.randint(0, vocab_size, (batch, seq), generator=g)
    attention_mask = torch.ones(batch, seq, dtype=torch.long)
    attention_mask[1, 6:] = 0  # right padding on the second row
    labels = input_ids.clone()
    labels[0, :3] = -100  # a masked "prompt"
    labels[1, 6:] = -100  # padding never counts
    return {"input_ids": input_ids.tolist(), "labels": labels.tolist(), "attention_mask": attention_mask.tolist()}


def run(model, batch: dict) -> dict:
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(batch["input_ids"]),
            attention_mask=torch.tensor(batch["attention_mask"]),
            labels=torch.tensor(batch["labels"]),
        )
    return {"logits": out.logits.reshape(-1).tolist(), "loss": out.loss.item()}


def gradients(model, batch: dict) -> dict:
    model.zero_grad()
    out = model(
        input_ids=torch.tensor(batch["input_ids"]),
        attention_mask=torch.tensor(batch["attention_mask"]),
        labels=torch.tensor(batch["labels"]),
    )
    out.loss.backward()
    return {name: p.grad.reshape(-1).tolist() for name, p in model.named_parameters()}


def make(directory: str, config_dict: dict, seed: int) -> dict:
    config_dict = dict(config_dict)
    config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # transformers initialises with std 0.02 and unit norms: nearly uniform logits make a weak test, so widen them.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.1)
            else:
                p.normal_(0.0, 0.15)
    model.eval()
    model.save_pretrained(directory, safe_serialization=True)
    batch = batch_for(config.vocab_size, seed)
    return {**batch, **run(model, batch), "grads": gradients(model, batch)}


def logits(directory: str, batch: dict) -> dict:
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return run(model, batch)


def tokenizer(case: dict) -> dict:
    tok = AutoTokenizer.from_pretrained(case["dir"])
    return {
        "ids": [tok(text, add_special_tokens=False)["input_ids"] for text in case["texts"]],
        "chat": tok.apply_chat_template(case["messages"], tokenize=False, add_generation_prompt=True),
    }


if __name__ == "__main__":
    command = sys.argv[1]
    with open(sys.argv[2]) as f:
        cases = json.load(f)
    if command == "make":
        print(json.dumps([make(c["dir"], c["config"], c["seed"]) for c in cases]))
    elif command == "logits":
        print(json.dumps([logits(c["dir"], c["batch"]) for c in cases]))
    elif command == "tokenizer":
        print(json.dumps(tokenizer(cases)))
    else:
        raise SystemExit(f"unknown command {command!r}")
