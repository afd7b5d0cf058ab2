"""Read a LoTA ticket (ticket.safetensors, the sparse task vector theta - theta_base) into PyTorch tensors.

The format is written by trainer-image/src/lota/ticket.ts. Per adapted tensor <name> the file holds
  mask/<name>   uint8 [ceil(n/8)]  packed bitmask of the trained entries, bit i = byte i//8, bit i%8 (LSB first), or
  index/<name>  uint8 [b]          the same entries as gaps (i_0, then i_k - i_(k-1) - 1), each an unsigned LEB128
                                   varint (7 bits per byte, low bits first, high bit set on all but a value's last)
  delta/<name>  F32/F16/BF16 [m]   theta - theta_base at those entries, in ascending index order
and __metadata__ with format "lota-ticket", format_version "1" (bitmask only) or "2", mask_coding (JSON name ->
"bitmask" | "gaps", version 2), shapes (JSON name -> shape), base_fingerprint, values_dtype, sparsity, task, ...

Use it as a module:

    from lota_ticket import load_ticket
    info, tensors = load_ticket("ticket.safetensors")
    state = model.state_dict()
    for name, (mask, delta) in tensors.items():
        state[name] += delta.to(state[name].dtype)   # delta is dense, exactly zero outside the mask

or from the command line: `python lota_ticket.py TICKET...` prints a summary; `--json` prints, as one JSON object
keyed by path, every tensor's entry indices and values (what the tests compare with the TypeScript reader).

Needs numpy, torch and safetensors (python/requirements.txt).
"""

import json
import sys

import numpy as np
import torch
from safetensors import safe_open

READABLE_VERSIONS = ("1", "2")


def gaps_to_indices(codes: np.ndarray) -> np.ndarray:
    """Decodes LEB128 gaps into ascending entry indices (int64)."""
    codes = codes.astype(np.int64)
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (codes & 0x80) == 0  # the final byte of each varint
    if not last[-1]:
        raise ValueError("index ends inside a varint")
    group = np.concatenate(([0], np.cumsum(last)[:-1]))  # which varint each byte belongs to
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    position = np.arange(codes.size) - starts[group]  # byte position within its varint
    if position.max() > 7:
        raise ValueError("index gap is too long a varint")
    gaps = np.zeros(int(last.sum()), dtype=np.int64)
    np.add.at(gaps, group, (codes & 0x7F) << (7 * position))
    return np.cumsum(gaps + 1) - 1


def load_ticket(path: str):
    """Returns (metadata dict, {name: (mask bool tensor, delta float32 tensor)}), both tensors in the weight's shape."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != "lota-ticket":
            raise ValueError(f"{path}: not a LoTA ticket (format {meta.get('format')!r})")
        if meta.get("format_version") not in READABLE_VERSIONS:
            raise ValueError(f"{path}: ticket format version {meta.get('format_version')} is not one of {READABLE_VERSIONS}")
        shapes = json.loads(meta["shapes"])
        codings = json.loads(meta.get("mask_coding", "{}"))
        tensors = {}
        for name, shape in shapes.items():
            n = int(np.prod(shape, dtype=np.int64))
            if codings.get(name, "bitmask") == "gaps":
                indices = gaps_to_indices(f.get_tensor(f"index/{name}").numpy())
                if indices.size and indices[-1] >= n:
                    raise ValueError(f"{path}: {name}: index {indices[-1]} out of range for {n} entries")
            else:
                bits = np.unpackbits(f.get_tensor(f"mask/{name}").numpy(), bitorder="little")[:n]
                indices = np.flatnonzero(bits)
            values = f.get_tensor(f"delta/{name}").to(torch.float32)
            if values.numel() != indices.size:
                raise ValueError(f"{path}: {name}: {values.numel()} values for {indices.size} entries")
            index = torch.from_numpy(indices)
            mask = torch.zeros(n, dtype=torch.bool)
            mask[index] = True
            delta = torch.zeros(n, dtype=torch.float32)
            delta[index] = values
            tensors[name] = (mask.reshape(shape), delta.reshape(shape))
        return meta, tensors


def dump(path: str) -> dict:
    meta, tensors = load_ticket(path)
    return {
        "metadata": meta,
        "tensors": {
            name: {
                "shape": list(mask.shape),
                "indices": torch.flatten(mask).nonzero().flatten().tolist(),
                "values": torch.flatten(delta)[torch.flatten(mask)].tolist(),
            }
            for name, (mask, delta) in tensors.items()
        },
    }


def main(argv):
    paths = [a for a in argv if a != "--json"]
    if not paths:
        sys.exit("usage: lota_ticket.py [--json] TICKET...")
    if "--json" in argv:
        print(json.dumps({path: dump(path) for path in paths}))
        return
    for path in paths:
        meta, tensors = load_ticket(path)
        entries = sum(int(m.sum()) for m, _ in tensors.values())
        total = sum(m.numel() for m, _ in tensors.values())
        print(f"{path}: {len(tensors)} tensors, {entries} of {total} entries, task {meta.get('task')!r}")
        for name, (mask, delta) in tensors.items():
            print(f"  {name} {list(mask.shape)} {int(mask.sum())} entries, |delta| max {float(delta.abs().max()):.3e}")


if __name__ == "__main__":
    main(sys.argv[1:])
