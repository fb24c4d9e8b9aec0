# syntax=docker/dockerfile:1
# intercom-sms-bridge: multi-stage build on the current Node LTS, run as the unprivileged "node" user.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY canvas ./canvas
COPY shared ./shared
COPY scripts/bundle.mjs ./scripts/bundle.mjs
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    DATABASE_URL=file:/data/bridge.db
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
# The service handles SIGTERM itself (server/shutdown.ts): stop taking requests, finish running jobs,
# close the database.
STOPSIGNAL SIGTERM
# The flags are npm start's (see "Performance" in the README): 4 MB semi-spaces and an old
# generation capped at 128 MB, so V8 collects before it grows instead of after; WebAssembly (undici's
# HTTP parser, behind fetch) stays on the baseline compiler, and JavaScript is optimized on the main
# thread. Each saves memory without slowing the service, measured in `npm run bench`.
CMD ["node", "--max-old-space-size=128", "--max-semi-space-size=4", "--liftoff-only", "--no-concurrent-recompilation", "dist/bundle/cli.js", "start"]
