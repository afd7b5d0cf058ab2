"""Independent check of a LoTA `sum` merge: θ = θ_base + Σ δ_i, recomputed here from the ticket files (read by
python/lota_ticket.py, the documented Python reader), compared bit for bit with the merged model directory, which is then
loaded by `transformers` and run against a model holding the reference weights.

    check_sum.py BASE_DIR MERGED_DIR TICKET...
"""

import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import LlamaForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "python"))
from lota_ticket import load_ticket  # noqa: E402

base_dir, merged_dir, tickets = sys.argv[1], sys.argv[2], sys.argv[3:]
reference = load_file(f"{base_dir}/model.safetensors")
sums = {}
for path in tickets:
    _, tensors = load_ticket(path)
    for name, (_, delta) in tensors.items():
        delta = delta.flatten().numpy()
        sums[name] = delta if name not in sums else (sums[name] + delta).astype(np.float32)
for name, total in sums.items():
    reference[name] = (reference[name] + total.reshape(reference[name].shape)).astype(np.float32)

merged = LlamaForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
state = {k: v.detach().numpy() for k, v in merged.state_dict().items()}
mismatched = [k for k, v in reference.items() if not np.array_equal(state[k], v)]

expected = LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
expected.load_state_dict({k: torch.from_numpy(v) for k, v in reference.items()}, strict=True)
ids = torch.randint(0, merged.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    a = merged(ids).logits
    b = expected(ids).logits
    base_logits = LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()(ids).logits
print(
    json.dumps(
        {
            "changedTensors": sorted(sums),
            "mismatchedTensors": mismatched,
            "logitsMaxAbsDiff": float((a - b).abs().max()),
            "logitsEqual": bool(torch.equal(a, b)),
            "baseLogitsMaxAbsDiff": float((a - base_logits).abs().max()),
        }
    )
)
