# syntax=docker/dockerfile:1
# The LoTA operator image: Node 24 LTS runs the TypeScript sources directly (type stripping), so there is no build
# step, only a production-dependency install. Build from the repository root:
#   docker build -t lota-operator:dev --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
# The trainer image is separate (trainer-image/Dockerfile).

ARG NODE_VERSION=24.21.0

# --- dependencies: production only, for the two workspaces the operator runs ----------------------------------
FROM node:${NODE_VERSION}-trixie-slim AS deps
WORKDIR /app
# Every workspace's package.json is needed for `npm ci` to accept the lock file; only api and operator get installed.
COPY package.json package-lock.json ./
COPY api/package.json api/
COPY operator/package.json operator/
COPY trainer-image/package.json trainer-image/
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --workspace=@lota/operator --workspace=@lota/api \
      --ignore-scripts --no-audit --no-fund \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.md' \) -delete

# --- runtime ---------------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-trixie-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lota-operator" \
      org.opencontainers.image.description="Kubernetes operator for Lottery Ticket Adaptation (LotaAdaptation, TicketMerge)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="LoTA operator authors" \
      org.opencontainers.image.base.name="docker.io/library/node:${NODE_VERSION}-trixie-slim"

# The operator never installs packages at run time: drop npm, npx, corepack and yarn from the image.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*

ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root and read-only to the runtime user.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY api/package.json api/
COPY api/src api/src
COPY operator/package.json operator/
COPY operator/src operator/src
# Node's compile cache, filled at build time: the operator's TypeScript is stripped and compiled once here, so the
# process never loads the type stripper (a WebAssembly module of ~20 MB resident) and starts faster. Node keeps one
# cache per user id, so it is filled as the runtime user; at run time it is only read (the root filesystem is
# read-only in the chart), and a pod run under another uid just starts without it.
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
RUN install -d -o 65532 -g 65532 /app/.node-compile-cache

# A numeric non-root user, so `runAsNonRoot` can be verified by the kubelet without a passwd lookup.
USER 65532:65532
RUN node --optimize-for-size operator/src/main.ts --help > /dev/null
EXPOSE 8080 8081
# A small young generation: Node's default lets garbage from watch events and JSON parsing hold ~100 MB more resident
# memory than the caches need (measured by bench/operator-scale.ts; docs/operations.md "Sizing").
ENV NODE_OPTIONS=--max-semi-space-size=2
# V8's heap sized for memory rather than speed: the operator waits on the API server, not on its CPU, and with
# Node's default heap growth the V8 heap sits at 2-3x the live objects after a burst of watch events
# (bench/operator-scale.ts: N = 1,000 peaks at ~190 MB resident without it).
ENTRYPOINT ["node", "--optimize-for-size", "operator/src/main.ts"]
