"""srlm-nemo: Self-Rewarding Language Models (Yuan et al., 2024) as a training recipe, on one
machine or a Slurm cluster. `srlm --help` lists the commands; `srlm_nemo/recipes/` tells the flow.

The package carries its own configs (`conf/`), prompt templates (`prompts/`) and demo seed
(`data/`), found through `srlm_nemo.resources`, so a wheel installed into a container works
from any directory."""
