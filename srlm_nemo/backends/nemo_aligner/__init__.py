"""The `nemo_aligner` training backend: NeMo-Aligner's SFT and DPO on Megatron, behind the same
`sft()` / `dpo()` calls as the TRL backend (trainer.py). Its parts: data.py (NeMo-Aligner's data
formats), commands.py (conversion, training and export as job steps), checks.py (a converted
model against its HF checkpoint), checkpoints.py (where its files and checkpoints are),
run_aligner_dpo.py and untied_base.py (run inside the job steps)."""
