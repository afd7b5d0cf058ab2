"""Runs MergeKit (its Python API, on CPU) on configurations given as JSON — the dicts a mergekit-yaml file holds.

    mergekit_merge.py CONFIG_JSON OUT_DIR [CONFIG_JSON OUT_DIR ...]

One process for several merges, so the (slow) imports are paid once. Prints one JSON line: per merge the wall time,
and this process's peak RSS at the end.
"""

import json
import resource
import sys
import time

from mergekit.config import MergeConfiguration
from mergekit.merge import MergeOptions, run_merge

options = MergeOptions(cuda=False, copy_tokenizer=False, lazy_unpickle=False, write_model_card=False, quiet=True)
pairs = list(zip(sys.argv[1::2], sys.argv[2::2]))
seconds = []
for config_path, out_dir in pairs:
    config = MergeConfiguration.model_validate(json.load(open(config_path)))
    start = time.perf_counter()
    run_merge(config, out_path=out_dir, options=options)
    seconds.append(time.perf_counter() - start)
print(json.dumps({"seconds": seconds, "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
