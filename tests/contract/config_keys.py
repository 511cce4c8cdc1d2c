"""Record the key paths (no values) of NeMo-Aligner's training configs, so tests can check that
every plain Hydra override we render names a key the config has (Hydra refuses one that does
not: only `+key` / `++key` may add keys).

  python tests/contract/config_keys.py GIT_DIR REF > tests/contract/nemo_aligner_config_keys.json

GIT_DIR: a clone of github.com/NVIDIA/NeMo-Aligner; REF: the tag the training image pins (v0.7.0).
"""
import json
import subprocess
import sys

import yaml

CONFIGS = ("gpt_sft.yaml", "gpt_dpo.yaml")


def key_paths(node, prefix=""):
    for k, v in node.items():
        path = f"{prefix}{k}"
        yield path
        if isinstance(v, dict):
            yield from key_paths(v, path + ".")


if __name__ == "__main__":
    git_dir, ref = sys.argv[1], sys.argv[2]
    out = {"nemo_aligner": ref}
    for name in CONFIGS:
        text = subprocess.run(["git", "--git-dir", git_dir, "show", f"{ref}:examples/nlp/gpt/conf/{name}"],
                              check=True, capture_output=True, text=True).stdout
        out[name] = sorted(p for p in key_paths(yaml.safe_load(text)) if p != "defaults")
    json.dump(out, sys.stdout, indent=1)
    print()
