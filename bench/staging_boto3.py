"""boto3's download_file (the reference for bench/staging.ts): downloads each key of argv into a directory with the
default TransferConfig (parallel ranged GETs, 8 MiB parts, 10 threads) and prints the seconds it took."""
import json
import os
import sys
import time

import boto3
from botocore.config import Config

endpoint, bucket, out = sys.argv[1], sys.argv[2], sys.argv[3]
keys = sys.argv[4:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
start = time.perf_counter()
for key in keys:
    path = os.path.join(out, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    s3.download_file(bucket, key, path)
print(json.dumps({"seconds": time.perf_counter() - start}))
