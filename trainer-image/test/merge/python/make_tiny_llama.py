"""Saves a tiny random LlamaForCausalLM (float32, untied lm_head, GQA) made by `transformers`.

    make_tiny_llama.py OUT_DIR SEED
"""

import json
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

out, seed = sys.argv[1], int(sys.argv[2])
torch.manual_seed(seed)
config = LlamaConfig(
    vocab_size=96,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    tie_word_embeddings=False,
)
model = LlamaForCausalLM(config).to(torch.float32)
with torch.no_grad():
    # Default init leaves norms at exactly 1; perturb them so every tensor has distinct magnitudes.
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.add_(torch.randn_like(p) * 0.1)
model.save_pretrained(out)
print(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))
