# The training image: NeMo (converters, Megatron, Transformer Engine, Apex) + NeMo-Aligner 0.7.0 +
# this package. Every training-side job step runs in it: HF <-> .nemo conversion, the conversion
# check, train_gpt_sft.py / train_gpt_dpo.py, and the CPU stages (seed, pairs).
#   containers/build.sh            (builds both images and imports them with enroot)
ARG NEMO_IMAGE=nvcr.io/nvidia/nemo:24.12
FROM ${NEMO_IMAGE}

# NeMo-Aligner 0.7.0 is the release built against NeMo 2.1.0 / megatron-core 0.10 (its own Dockerfile
# pins those). Its example scripts are what our commands run, so the checkout replaces the
# container's /opt/NeMo-Aligner rather than only its Python package.
ARG NEMO_ALIGNER_TAG=v0.7.0
RUN rm -rf /opt/NeMo-Aligner \
 && git clone --depth 1 --branch "${NEMO_ALIGNER_TAG}" https://github.com/NVIDIA/NeMo-Aligner.git /opt/NeMo-Aligner \
 && pip install --no-cache-dir --no-deps -e /opt/NeMo-Aligner

WORKDIR /workspace/srlm-nemo
COPY . .
# Our package with its light dependencies, constrained to what the image already holds: a
# conflict fails the build instead of silently replacing NeMo's torch or transformers.
RUN pip list --format=freeze > /tmp/image-packages.txt \
 && pip install --no-cache-dir --constraint /tmp/image-packages.txt . \
 && python -m srlm_nemo.cluster.versions --expect containers/versions.train.json --write /opt/srlm/versions.json
