# syntax=docker/dockerfile:1
# impersonation-operator container image.
#   build:   all dependencies, compile TypeScript to dist/
#   deps:    production dependencies only, installed from the lock file
#   runtime: distroless Node 24 (no shell, no package manager), non-root UID 65532,
#            nothing written at run time, so readOnlyRootFilesystem works.
# test/integration/image.test.ts reproduces the deps + runtime steps without Docker.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Only src/ is copied, so the build config's other include paths (test harness, bench) match nothing.
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no production dependency needs an install script, and none may run one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="impersonation-operator" \
      org.opencontainers.image.description="Reconciles ImpersonationPolicy resources into least-privilege impersonation RBAC" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/impersonation-operator/impersonation-operator" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist/src ./dist/src
COPY --chown=0:0 package.json ./
COPY --chown=0:0 crds ./crds
# Files are owned by root and read-only to the process; it runs as the distroless nonroot user.
USER 65532:65532
EXPOSE 8080 8081
# main.js relaunches itself (same pid) with the runtime flags of src/runtime-flags.ts, defined there
# once for every way the operator starts.
ENTRYPOINT ["/nodejs/bin/node", "dist/src/main.js"]
