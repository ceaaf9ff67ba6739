"""Independent reader for the published manifests: PyYAML's safe loader, dumped as JSON.

Usage: parse_manifests.py DIR  ->  {"file.yaml": [doc, ...], ...} on stdout.
Exits 1 with the file and PyYAML's message when a file does not parse.
"""
import json
import os
import sys

import yaml

folder = sys.argv[1]
out = {}
for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    try:
        with open(path, encoding="utf-8") as handle:
            out[name] = [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    except yaml.YAMLError as error:
        print(f"{name}: {error}", file=sys.stderr)
        sys.exit(1)
json.dump(out, sys.stdout, sort_keys=False)
