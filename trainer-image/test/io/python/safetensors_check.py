"""Cross-check of our safetensors files against the reference `safetensors` package (torch flavour).

    safetensors_check.py IN OUT

Reads IN (written by our writer) with safetensors.torch, and writes OUT with safetensors.torch.save_file holding
every tensor of IN unchanged plus, for each F32 tensor X, `X.as_f16` and `X.as_bf16` converted by torch (round to
nearest even). Prints one JSON line: the metadata it read, and each tensor's dtype and shape as torch saw them.
"""

import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

source, target = sys.argv[1], sys.argv[2]
tensors = {}
with safe_open(source, framework="pt") as f:
    metadata = f.metadata()
    for name in f.keys():
        tensors[name] = f.get_tensor(name)

seen = {name: {"dtype": str(t.dtype), "shape": list(t.shape)} for name, t in tensors.items()}
out = dict(tensors)
for name, t in tensors.items():
    if t.dtype == torch.float32:
        out[f"{name}.as_f16"] = t.to(torch.float16)
        out[f"{name}.as_bf16"] = t.to(torch.bfloat16)
save_file(out, target, metadata={"written_by": "python safetensors", **(metadata or {})})
print(json.dumps({"metadata": metadata, "tensors": seen}))
