"""Any OpenAI-compatible server (`vllm serve`, a hosted API). The key comes from the
environment variable `generation.api_key_env` only, never from a config file."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..endpoints import api_key
from ..schemas import Sampling
from .generation import Completion


class OpenAIGenerator:
    def __init__(self, model_path: str, gen_cfg, model_cfg):
        from openai import OpenAI
        if not gen_cfg.base_url:
            raise ValueError("generation.base_url: required for the openai backend")
        self.client = OpenAI(base_url=gen_cfg.base_url, api_key=api_key(gen_cfg.api_key_env, gen_cfg.base_url),
                             timeout=gen_cfg.request_timeout_s)
        self.model_name = gen_cfg.served_model_name or model_path
        self.workers = gen_cfg.max_concurrency

    def _kw(self, s: Sampling):
        kw = dict(model=self.model_name, n=s.n, temperature=s.temperature, top_p=s.top_p,
                  max_tokens=s.max_tokens)
        if s.stop:
            kw["stop"] = s.stop
        if s.seed is not None:
            kw["seed"] = s.seed
        return kw

    @staticmethod
    def _tokens(r):
        # usage counts all choices together: per-choice counts are known only for n == 1
        return r.usage.completion_tokens if r.usage is not None and len(r.choices) == 1 else None

    def _map(self, fn, items):
        with ThreadPoolExecutor(self.workers) as ex:
            return list(ex.map(fn, items))

    def complete(self, prompts, s):
        def one(p):
            r = self.client.completions.create(prompt=p, **self._kw(s))
            return [
                Completion(c.text, c.finish_reason, self._tokens(r)) for c in sorted(r.choices, key=lambda c: c.index)
            ]
        return self._map(one, prompts)

    def chat(self, conversations, s):
        def one(msgs):
            r = self.client.chat.completions.create(messages=msgs, **self._kw(s))
            return [Completion(c.message.content or "", c.finish_reason, self._tokens(r))
                    for c in sorted(r.choices, key=lambda c: c.index)]
        return self._map(one, conversations)

    def close(self):
        self.client.close()
