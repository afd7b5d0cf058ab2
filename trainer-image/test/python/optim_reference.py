"""torch.optim reference for the trainer's update rules.

  optim_reference.py <cases.json>   cases: a list of {"optimizer": name, "options": {...}, "lr": float,
                                    "value": [...], "grads": [[...], ...]}; prints, per case, the value after each
                                    step, as one JSON list (one process for all cases: importing torch is slow).
"""

import json
import sys

import torch


def run(case: dict) -> list:
    p = torch.nn.Parameter(torch.tensor(case["value"], dtype=torch.float32))
    o = case["options"]
    name = case["optimizer"]
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        opt = cls([p], lr=case["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weightDecay"])
    elif name == "rmsprop":
        opt = torch.optim.RMSprop(
            [p], lr=case["lr"], alpha=o["alpha"], eps=o["eps"], momentum=o["momentum"], weight_decay=o["weightDecay"],
            centered=o["centered"],
        )
    elif name == "sgd":
        opt = torch.optim.SGD(
            [p], lr=case["lr"], momentum=o["momentum"], nesterov=o["nesterov"], weight_decay=o["weightDecay"]
        )
    else:
        raise SystemExit(f"unknown optimizer {name!r}")
    values = []
    for g in case["grads"]:
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        values.append(p.detach().tolist())
    return values


with open(sys.argv[1]) as f:
    cases = json.load(f)
print(json.dumps([run(case) for case in cases]))
