"""Megatron layout checks and GPU-hour estimates for the cluster backend.

Checked before anything is submitted, each failure naming its keys:
TP x PP x DP = GPUs of the stage; global batch divisible by micro batch x DP; attention heads
divisible by TP; layers divisible by PP (x VP when interleaved; DPO cannot interleave); sequence length within the
model's; sequence parallel only with TP > 1; FP8 only with Transformer Engine.
"""
from __future__ import annotations

from dataclasses import dataclass


class LayoutError(ValueError):
    pass


def validate_layout(sec: str, stage, arch, cluster) -> int:
    """Returns the data-parallel size of training stage `sec` (sft | dpo)."""
    p = stage.parallel
    k = f"{sec}.parallel"
    gpus = p.nodes * cluster.gpus_per_node
    tp, pp = p.tensor_parallel, p.pipeline_parallel

    def need(ok, keys, why):
        if not ok:
            raise LayoutError(f"{keys}: {why}")
    need(cluster.gpus_per_node >= 1, "cluster.gpus_per_node",
         f"cluster={cluster.name} has no GPUs; training=nemo_aligner needs a GPU cluster (conf/cluster/)")
    need(tp >= 1 and pp >= 1 and p.nodes >= 1, f"{k}.tensor_parallel/pipeline_parallel/nodes", "must be >= 1")
    need(gpus % (tp * pp) == 0, f"{k}.tensor_parallel x {k}.pipeline_parallel vs {k}.nodes x cluster.gpus_per_node",
         f"TP x PP = {tp * pp} does not divide the {gpus} GPUs")
    dp = gpus // (tp * pp)
    need(stage.global_batch_size % (stage.micro_batch_size * dp) == 0,
         f"{sec}.global_batch_size / {sec}.micro_batch_size",
         f"global batch {stage.global_batch_size} is not divisible by micro batch {stage.micro_batch_size} x DP {dp}")
    need(arch.num_attention_heads % tp == 0, f"{k}.tensor_parallel / model.arch.num_attention_heads",
         f"{arch.num_attention_heads} heads are not divisible by TP {tp}")
    chunks = pp * (p.virtual_pipeline or 1)
    need(arch.num_layers % chunks == 0, f"{k}.pipeline_parallel / {k}.virtual_pipeline / model.arch.num_layers",
         f"{arch.num_layers} layers are not divisible by PP x VP = {chunks}")
    need(p.virtual_pipeline is None or pp > 1, f"{k}.virtual_pipeline", "interleaving needs pipeline_parallel > 1")
    # NeMo-Aligner 0.7.0 swaps the reference policy's weights into a single model chunk and
    # asserts that there is one (utils.swap_dict): DPO fails at its first batch with interleaving
    need(sec != "dpo" or p.virtual_pipeline is None, f"{k}.virtual_pipeline",
         "NeMo-Aligner's DPO cannot interleave pipeline stages (it swaps the reference weights into one "
         "model chunk); leave it null")
    need(stage.max_seq_len <= arch.max_seq_len, f"{sec}.max_seq_len / model.arch.max_seq_len",
         f"{stage.max_seq_len} exceeds the model's {arch.max_seq_len}")
    need(not p.sequence_parallel or tp > 1, f"{k}.sequence_parallel", "needs tensor_parallel > 1")
    need(not p.fp8 or p.transformer_engine, f"{k}.fp8 / {k}.transformer_engine", "FP8 needs Transformer Engine")
    need(p.activation_checkpointing in (None, "selective", "full"), f"{k}.activation_checkpointing",
         "one of null, selective, full")
    return dp


@dataclass
class Estimate:
    stage: str
    tokens: float
    flops: float
    gpus: int
    gpu_hours: float
    wall_hours: float


def estimate(stage: str, examples: int, tokens_per_example: int, epochs: float, params_b: float,
             gpus: int, tflops_per_gpu: float) -> Estimate:
    """Training FLOPs = 6 x params x tokens (forward + backward); DPO adds the frozen reference
    model's forward (2 x params x tokens) over chosen and rejected sequences alike."""
    tokens = examples * tokens_per_example * epochs
    flops = (8.0 if stage == "dpo" else 6.0) * params_b * 1e9 * tokens
    gpu_hours = flops / (tflops_per_gpu * 1e12) / 3600
    return Estimate(stage, tokens, flops, gpus, gpu_hours, gpu_hours / max(1, gpus))
