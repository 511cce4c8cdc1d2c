"""`python -m srlm_nemo.cluster.verify MODEL.nemo HF_DIR [--precision bf16]`: check a converted
model's config against the HF checkpoint it came from (run right after HF -> .nemo conversion)."""
import argparse
import json
import sys

from .nemo_aligner import ConversionError, hf_config, verify_converted

if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m srlm_nemo.cluster.verify")
    ap.add_argument("nemo")
    ap.add_argument("hf_dir")
    ap.add_argument("--precision", help="the precision the conversion was asked for (e.g. bf16)")
    a = ap.parse_args()
    try:
        print(json.dumps(verify_converted(a.nemo, hf_config(a.hf_dir), a.precision)))
    except (ConversionError, OSError) as e:
        print(f"conversion check failed: {e}", file=sys.stderr)
        sys.exit(1)
