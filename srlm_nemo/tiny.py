"""A tiny random-weight Llama with a word-level tokenizer and ChatML template, built locally.

Used by the fast end-to-end test: every stage and artifact runs in seconds with no download.
"""
from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]


def demo_ift() -> list[dict]:
    """The shipped demo seed's IFT rows (prompt, response)."""
    from .stages.seed import DATA
    return [json.loads(line) for line in open(DATA / "demo_ift.jsonl")]


def demo_texts() -> list[str]:
    """The tiny tokenizer's usual vocabulary: the demo seed's prompts and replies."""
    return [r["prompt"] + " " + r["response"] for r in demo_ift()]


def build_tiny_model(out: str | Path, texts: list[str], seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from .backends.generation import fallback_chat_template
    out = Path(out)
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok.train_from_iterator(texts + ["user assistant system Score : 0 1 2 3 4 5 \n"],
                            trainers.WordLevelTrainer(vocab_size=2000, special_tokens=SPECIALS))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                     eos_token="<|im_end|>", bos_token="<|im_start|>")
    hf_tok.chat_template = fallback_chat_template()
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=hf_tok.vocab_size + 8, hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, pad_token_id=hf_tok.pad_token_id,
                      eos_token_id=hf_tok.eos_token_id, bos_token_id=hf_tok.bos_token_id,
                      tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(out)
    hf_tok.save_pretrained(out)
    # transformers 5 names its fast-tokenizer class TokenizersBackend, which the transformers 4
    # of the NeMo training image cannot load (found by `srlm cluster smoke`); both know this name
    tc = out / "tokenizer_config.json"
    tc.write_text(json.dumps({**json.loads(tc.read_text()), "tokenizer_class": "PreTrainedTokenizerFast"}, indent=2))
    return out
