"""boto3's download_file (the reference for bench/staging.ts): downloads each key of argv into a directory and prints
the seconds it took and the CPU seconds (user + system, all threads) this process spent doing it. LOTA_BOTO3_CONCURRENCY sets TransferConfig.max_concurrency (default 10, boto3's own: threads of 8 MiB ranged
GETs)."""
import json
import os
import resource
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, bucket, out = sys.argv[1], sys.argv[2], sys.argv[3]
keys = sys.argv[4:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
transfer = TransferConfig(max_concurrency=int(os.environ.get("LOTA_BOTO3_CONCURRENCY", "10")))


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


cpu0 = cpu()
start = time.perf_counter()
for key in keys:
    path = os.path.join(out, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    s3.download_file(bucket, key, path, Config=transfer)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": cpu() - cpu0}))
