"""Runs MergeKit (its Python API, on CPU) on configurations given as JSON — the dicts a mergekit-yaml file holds.

    mergekit_merge.py CONFIG_JSON OUT_DIR [CONFIG_JSON OUT_DIR ...]

One process for several merges, so the (slow) imports are paid once. Prints one JSON line: per merge the wall and
CPU time (all threads), and this process's total CPU time and peak RSS at the end.
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
cpu_seconds = []
for config_path, out_dir in pairs:
    config = MergeConfiguration.model_validate(json.load(open(config_path)))
    start, start_cpu = time.perf_counter(), time.process_time()
    run_merge(config, out_path=out_dir, options=options)
    seconds.append(time.perf_counter() - start)
    cpu_seconds.append(time.process_time() - start_cpu)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(
    json.dumps(
        {
            "seconds": seconds,
            "cpuSeconds": cpu_seconds,
            "processCpuSeconds": usage.ru_utime + usage.ru_stime,
            "maxRssBytes": usage.ru_maxrss * 1024,
        }
    )
)
