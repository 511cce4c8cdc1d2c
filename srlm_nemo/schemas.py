"""One record type per artifact. Every JSONL file in a run directory holds exactly one of these.

Written once here (TRL's lesson: formats documented once, validated at the boundary):

| artifact                        | record          | written by stage |
|---------------------------------|-----------------|------------------|
| seed/ift.jsonl                  | IFTExample      | seed             |
| seed/eft_train.jsonl, eft_eval  | EFTExample      | seed / eft       |
| seed/eval_trees.jsonl           | RankedPrompt    | seed             |
| iter_t/prompts.jsonl            | GeneratedPrompt | prompts          |
| iter_t/candidates.jsonl         | Candidate       | candidates       |
| iter_t/judgements.jsonl         | Judgement       | judge            |
| iter_t/scores.jsonl             | CandidateScore  | judge            |
| iter_t/pairs.jsonl              | PreferencePair  | pairs            |
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

# An identifier: a non-empty string (a null, a number or an object is refused, never str()-ed)
Id = Annotated[str, Field(min_length=1)]


class Record(BaseModel):
    """Unknown fields, NaN and infinities are refused; `UNIQUE` names the fields whose values no
    two records of one file share (read_jsonl refuses a repeat, naming both lines)."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    UNIQUE: ClassVar[tuple[str, ...]] = ()


class IFTExample(Record):
    UNIQUE = ('id',)
    id: Id
    prompt: str = Field(min_length=1)
    response: str = Field(min_length=1)
    source: str


class EFTExample(Record):
    """A judge-format training example: (question, response) -> justification ending `Score: N`."""
    UNIQUE = ('id',)
    id: Id
    prompt_id: Id
    question: str = Field(min_length=1)
    response: str = Field(min_length=1)
    judgement: str = Field(min_length=1)
    score: float = Field(ge=0, le=5)
    human_rank: Optional[int] = None
    source: str


class RankedReply(Record):
    reply_id: Id
    text: str = Field(min_length=1)
    rank: int = Field(ge=0)  # 0 = best, as in OASST


class RankedPrompt(Record):
    UNIQUE = ('prompt_id',)
    prompt_id: Id
    prompt: str = Field(min_length=1)
    replies: list[RankedReply]
    source: str


class HeldOutPrompt(Record):
    """A prompt held out for checkpoint selection (seed/select.jsonl), in AlpacaEval's row form."""
    UNIQUE = ('id',)
    id: Id
    instruction: str = Field(min_length=1)
    dataset: str


class GeneratedPrompt(Record):
    UNIQUE = ('id',)
    id: Id
    prompt: str = Field(min_length=1)
    iteration: int
    round: int
    max_rouge_l: float
    closest: str
    generator: str


class Sampling(Record):
    n: int = 1
    temperature: float
    top_p: float
    max_tokens: int
    seed: Optional[int] = None
    stop: list[str] = Field(default_factory=list)


class Candidate(Record):
    UNIQUE = ('id',)
    id: Id  # "<prompt_id>/c<index>"
    prompt_id: Id
    prompt: str
    index: int
    text: str
    finish_reason: Optional[str] = None
    num_tokens: Optional[int]  # None where the backend cannot say (OpenAI API with n > 1)
    model: str
    sampling: Sampling


class Judgement(Record):
    UNIQUE = ('candidate_id', 'sample')
    candidate_id: Id
    prompt_id: Id
    sample: int
    text: str
    score: Optional[float] = None
    error: Optional[str] = None  # why `score` is None: no_score, malformed, other_scale, out_of_range, empty
    # the judged reply was cut to fit the model's context (model.max_model_len); how many characters were kept
    truncated_to_chars: Optional[int] = None


class MetaVerdict(Record):
    """One meta-judge comparison: judgement samples `first` and `second` of one answer, shown in
    that order as A and B (every pair is shown both ways)."""
    UNIQUE = ('candidate_id', 'first', 'second')
    candidate_id: Id
    prompt_id: Id
    first: int
    second: int
    text: str
    winner: Optional[Literal["A", "B", "tie"]] = None  # None: no verdict line


class CandidateScore(Record):
    UNIQUE = ('candidate_id',)
    candidate_id: Id
    prompt_id: Id
    mean_score: Optional[float]
    num_valid: int
    num_samples: int
    scores: list[float]
    length_chars: int


class ReplyLogprob(Record):
    """log p(answer | prompt) under one model, summed over the answer's tokens as the chat
    template renders them (CREAM's DPO rewarding); None where prompt + answer do not fit the
    model's context (model.max_model_len)."""
    UNIQUE = ('candidate_id',)
    candidate_id: Id
    prompt_id: Id
    logprob: Optional[float]
    tokens: Optional[int] = Field(default=None, ge=1)


class Message(Record):
    role: Literal["system", "user", "assistant"]
    content: str


class PreferencePair(Record):
    """TRL's conversational preference format (prompt / chosen / rejected) plus provenance."""
    id: Id
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    chosen_id: str
    rejected_id: str
    chosen_score: float
    rejected_score: float
    # the probability DPO gives to chosen > rejected (pairs.strategy=cream); 1 = the plain label
    weight: float = Field(default=1.0, ge=0.0, le=1.0)
    # answer: two answers to a prompt; judgement: two judgements of one answer (judge.meta), the
    # prompt being the judge prompt and the scores each judgement's share of meta-judge wins
    kind: Literal["answer", "judgement"] = "answer"

    @field_validator("chosen", "rejected")
    @classmethod
    def _one_assistant_turn(cls, v):
        if len(v) != 1 or v[0].role != "assistant":
            raise ValueError("must be exactly one assistant message")
        return v


ARTIFACT_TYPES = {
    "ift": IFTExample, "eft_train": EFTExample, "eft_eval": EFTExample, "eval_trees": RankedPrompt,
    "prompts": GeneratedPrompt, "candidates": Candidate, "judgements": Judgement,
    "scores": CandidateScore, "pairs": PreferencePair, "ranked_pool": RankedPrompt, "select": HeldOutPrompt,
    "logprobs": ReplyLogprob,
}
