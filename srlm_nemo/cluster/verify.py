"""`python -m srlm_nemo.cluster.verify MODEL.nemo HF_DIR`: check a converted model's config
against the HF checkpoint it came from (run right after HF -> .nemo conversion)."""
import json
import sys

from .nemo_aligner import ConversionError, hf_config, verify_converted

if __name__ == "__main__":
    try:
        print(json.dumps(verify_converted(sys.argv[1], hf_config(sys.argv[2]))))
    except ConversionError as e:
        print(f"conversion check failed: {e}", file=sys.stderr)
        sys.exit(1)
