# syntax=docker/dockerfile:1.7
# evaluator-worker image (CPU): OCR and the pack's scorer models. Build from the repository root:
#   docker build -f deploy/docker/evaluator-worker.Dockerfile -t glm-image/evaluator-worker .
ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app

# Only the workspaces @glm-image/evaluator-worker depends on, package manifests split from sources so
# the npm ci layer is reused until a manifest or the lockfile changes.
FROM base AS pruner
RUN npm install -g turbo@2.11
COPY . .
# turbo reads the package manager from package.json.
RUN npm pkg get packageManager | grep -q npm@ || npm pkg set packageManager=npm@$(npm -v)
RUN turbo prune @glm-image/evaluator-worker --docker

FROM base AS installer
COPY --from=pruner /app/out/json/ .
COPY .npmrc ./
# onnxruntime-node bundles its CPU binaries; skip the optional CUDA download. Dev
# dependencies stay: the apps run their TypeScript through tsx.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund
COPY --from=pruner /app/out/full/ .
# The tiny reference model pack, so the image runs as is; mount a real pack over
# MODEL_PACK_PATH to score with its scorer models. Its glyphs come from Debian's GNU
# Unifont, needed only while the pack is built. OCR needs no system package: tesseract
# runs as WebAssembly and its English model comes from the @tesseract.js-data/eng package.
RUN apt-get update && apt-get install -y --no-install-recommends unifont && rm -rf /var/lib/apt/lists/*
RUN npm run build:packs

FROM base AS runner
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
# Root-owned and read-only to the app user; tsx caches to /tmp.
COPY --from=installer /app /app
ENV NODE_ENV=production HOST=0.0.0.0 METRICS_PORT=9466 MODEL_PACK_PATH=model-packs/reference EXECUTION_PROVIDER=cpu
USER 10001:10001
EXPOSE 9466
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:9466/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# SIGTERM goes straight to node (no shell), which drains before exiting.
CMD ["node", "--import", "tsx", "apps/evaluator-worker/src/main.ts"]
