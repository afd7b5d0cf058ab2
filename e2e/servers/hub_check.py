"""Reads a repository through huggingface_hub (the reference client) from HF_ENDPOINT; prints one JSON line.

Used by e2e/test/hub-server.test.ts to check that the test Hub endpoint answers as the client expects.
"""
import json
import os
import sys
import tempfile

from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

endpoint = os.environ["HF_ENDPOINT"]
repo, revision, gated, missing_file = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
cache = tempfile.mkdtemp()
api = HfApi(endpoint=endpoint)
out["sha"] = api.model_info(repo, revision=revision).sha
snap = snapshot_download(repo, revision=revision, cache_dir=cache, endpoint=endpoint)
out["snapshot"] = os.path.basename(snap)
out["files"] = sorted(
    os.path.relpath(os.path.join(d, f), snap) for d, _, fs in os.walk(snap) for f in fs
)
one = hf_hub_download(repo, "config.json", revision=revision, cache_dir=cache, endpoint=endpoint)
out["config"] = json.load(open(one))
errors = {}
for name, call in [
    ("repo", lambda: api.model_info("nobody/nothing")),
    ("revision", lambda: api.model_info(repo, revision="no-such-branch")),
    ("file", lambda: hf_hub_download(repo, missing_file, revision=revision, cache_dir=cache, endpoint=endpoint)),
    ("gated", lambda: api.model_info(gated)),
]:
    try:
        call()
        errors[name] = "none"
    except GatedRepoError:
        errors[name] = "GatedRepoError"
    except RevisionNotFoundError:
        errors[name] = "RevisionNotFoundError"
    except EntryNotFoundError:
        errors[name] = "EntryNotFoundError"
    except RepositoryNotFoundError:
        errors[name] = "RepositoryNotFoundError"
out["errors"] = errors
print(json.dumps(out))
