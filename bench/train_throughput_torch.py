"""PyTorch CPU reference for bench/train-throughput.ts: times training steps (forward, backward, AdamW) and eval
forwards of LlamaForCausalLM on the given config and batch. Prints {"train_tokens_per_s", "eval_tokens_per_s"}.

  train_throughput_torch.py <config.json> <batch> <seq_len> <steps>
"""

import json
import sys
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM

config_path, batch, seq_len, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(config_path) as f:
    config_dict = json.load(f)
config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
ids = torch.arange(batch * seq_len).reshape(batch, seq_len) * 31 % 256
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)


def train_step() -> None:
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def eval_step() -> None:
    with torch.no_grad():
        model(input_ids=ids, labels=ids)


def rate(step) -> float:
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * seq_len * steps / (time.perf_counter() - start)


model.train()
train = rate(train_step)
model.eval()
evaluation = rate(eval_step)
print(json.dumps({"train_tokens_per_s": train, "eval_tokens_per_s": evaluation, "threads": torch.get_num_threads()}))
