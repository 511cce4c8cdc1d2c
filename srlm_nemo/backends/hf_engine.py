"""transformers `generate`, left-padded batches; slower than vLLM but needs nothing else."""
from __future__ import annotations

from ..schemas import Sampling
from .generation import Completion, fallback_chat_template, reply_tokens


class HFGenerator:
    def __init__(self, model_path: str, gen_cfg, model_cfg):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        self.torch = torch
        self.model_name = model_path
        self.batch_size = gen_cfg.batch_size
        self.tok = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        if not self.tok.chat_template:
            self.tok.chat_template = fallback_chat_template()
        # the first GPU when there is one (the one-GPU path), else the CPU
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(
            model_path, dtype=getattr(torch, model_cfg.dtype)).to(self.device).eval()
        self.max_len = model_cfg.max_model_len

    def complete(self, prompts, s: Sampling):
        torch = self.torch
        if s.seed is not None:
            torch.manual_seed(s.seed)
        out: list[list[Completion]] = []
        for i in range(0, len(prompts), self.batch_size):
            batch = prompts[i:i + self.batch_size]
            enc = self.tok(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            kw = dict(max_new_tokens=s.max_tokens, num_return_sequences=s.n,
                      pad_token_id=self.tok.pad_token_id)
            if s.temperature > 0:
                kw.update(do_sample=True, temperature=s.temperature, top_p=s.top_p)
            else:
                kw.update(do_sample=False)
            with torch.no_grad():
                gen = self.model.generate(**enc, **kw)
            new = gen[:, enc["input_ids"].shape[1]:]
            for j in range(len(batch)):
                comps = []
                for row in new[j * s.n:(j + 1) * s.n]:
                    ids = row.tolist()
                    finish = "length"
                    if self.tok.eos_token_id in ids:
                        ids = ids[:ids.index(self.tok.eos_token_id)]
                        finish = "stop"
                    ids = [t for t in ids if t != self.tok.pad_token_id]
                    text = self.tok.decode(ids, skip_special_tokens=True)
                    for st in s.stop:
                        if st in text:
                            text, finish = text[:text.index(st)], "stop"
                    comps.append(Completion(text, finish, len(ids)))
                out.append(comps)
        return out

    def chat(self, conversations, s: Sampling):
        prompts = [self.tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                   for c in conversations]
        return self.complete(prompts, s)

    def prompt_tokens(self, conversations) -> list[int]:
        """What `chat` sends, in tokens (rendered, then tokenized as `complete` does)."""
        texts = [self.tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        return [len(self.tok(t, add_special_tokens=False)["input_ids"]) for t in texts]

    def reply_logprobs(self, conversations, replies) -> list[tuple[float, int] | None]:
        """Each reply's summed token log-probabilities, one forward pass per reply (as CREAM's
        rewarding.py computes them, without its batching)."""
        torch = self.torch
        out: list[tuple[float, int] | None] = []
        for span in reply_tokens(self.tok, conversations, replies, self.max_len):
            if span is None:
                out.append(None)
                continue
            ids, start = span
            x = torch.tensor([ids], device=self.device)
            with torch.no_grad():
                logps = self.model(x).logits[0, :-1].float().log_softmax(-1)
            picked = logps.gather(1, x[0, 1:, None])[:, 0]  # position i predicts token i + 1
            out.append((float(picked[start - 1:].sum()), len(ids) - start))
        return out

    def close(self):
        del self.model
