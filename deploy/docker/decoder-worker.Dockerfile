# syntax=docker/dockerfile:1.7
# decoder-worker image (CUDA). Build from the repository root:
#   docker build -f deploy/docker/decoder-worker.Dockerfile -t glm-image/decoder-worker .
# Runs on a node with the NVIDIA container toolkit; onnxruntime-node's CUDA execution
# provider needs CUDA 12 and cuDNN 9 from the runtime base below.
ARG NODE_IMAGE=node:20.19-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${NODE_IMAGE} AS node

FROM node AS pruner
WORKDIR /app
RUN npm install -g turbo@2.11
COPY . .
# turbo reads the package manager from package.json.
RUN npm pkg get packageManager | grep -q npm@ || npm pkg set packageManager=npm@$(npm -v)
RUN turbo prune @glm-image/decoder-worker --docker

FROM node AS installer
WORKDIR /app
COPY --from=pruner /app/out/json/ .
COPY .npmrc ./
# The environment variable overrides `onnxruntime-node-install=skip` in .npmrc: the
# install script fetches the CUDA 12 execution provider libraries next to the binding.
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
RUN npm ci --no-audit --no-fund
COPY --from=pruner /app/out/full/ .
# The tiny reference model pack, so the image runs as is; mount a real pack over
# MODEL_PACK_PATH to serve real weights. Its glyphs come from Debian's GNU Unifont, needed
# only while the pack is built.
RUN apt-get update && apt-get install -y --no-install-recommends unifont && rm -rf /var/lib/apt/lists/*
RUN npm run build:packs

FROM ${CUDA_IMAGE} AS runner
# Node itself comes from the official image (same major as the build stages).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app
# Root-owned and read-only to the app user; tsx caches to /tmp.
COPY --from=installer /app /app
ENV NODE_ENV=production HOST=0.0.0.0 METRICS_PORT=9465 MODEL_PACK_PATH=model-packs/reference \
    EXECUTION_PROVIDER=cuda CUDA_DEVICE_ID=0 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
EXPOSE 9465
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:9465/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# SIGTERM goes straight to node (no shell), which drains before exiting.
CMD ["node", "--import", "tsx", "apps/decoder-worker/src/main.ts"]
