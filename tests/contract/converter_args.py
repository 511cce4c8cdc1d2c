"""Record the command-line arguments of the NeMo scripts we render (flags, type, default, action,
required, choices; no help text), read from their `add_argument` calls without running NeMo, so
tests can parse our rendered arguments exactly as those scripts would.

  python tests/contract/converter_args.py GIT_DIR REF > tests/contract/nemo_script_args.json

GIT_DIR: a clone of github.com/NVIDIA/NeMo; REF: the tag the training image pins (v2.1.0).
Why it matters: convert_llama_hf_to_nemo.py declares `--llama31` with `type=bool, default=True`,
so leaving the flag out, or passing "False", switches Llama 3.1 RoPE scaling on.
"""
import ast
import json
import subprocess
import sys

SCRIPTS = ("scripts/checkpoint_converters/convert_llama_hf_to_nemo.py",
           "scripts/checkpoint_converters/convert_llama_nemo_to_hf.py",
           "examples/nlp/language_modeling/megatron_ckpt_to_nemo.py")
KEPT = ("type", "default", "action", "required", "choices")


def _value(node):
    if isinstance(node, ast.Name):  # type=str / type=bool
        return node.id
    try:
        return ast.literal_eval(node)
    except ValueError:  # computed at run time (os.getenv, os.path.join): not a literal
        return {"expression": ast.unparse(node)}


def arguments(source: str) -> list[dict]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            arg = {"flags": [ast.literal_eval(a) for a in node.args]}
            arg.update({k.arg: _value(k.value) for k in node.keywords if k.arg in KEPT})
            out.append(arg)
    return out


if __name__ == "__main__":
    git_dir, ref = sys.argv[1], sys.argv[2]
    out = {"nemo": ref}
    for path in SCRIPTS:
        text = subprocess.run(["git", "--git-dir", git_dir, "show", f"{ref}:{path}"],
                              check=True, capture_output=True, text=True).stdout
        out[path.rsplit("/", 1)[1]] = arguments(text)
    json.dump(out, sys.stdout, indent=1)
    print()
