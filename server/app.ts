import type { IncomingHttpHeaders } from 'node:http'
import formbody from '@fastify/formbody'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyPluginAsync } from 'fastify'
import type { Store } from '../shared/db/database.js'
import type { Config } from './config.js'
import type { Clients } from './clients/index.js'
import type { Worker } from './queue/worker.js'
import health from './routes/health.js'
import media from './routes/media.js'
import twilio from './routes/twilio.js'
import intercom from './routes/intercom.js'
import series from './routes/series.js'
import connectors from './routes/connectors.js'
import canvasInbox from '../canvas/inbox.js'
import canvasMessenger from '../canvas/messenger.js'
import { AppError } from '../shared/errors.js'
import type { BridgeDeps } from './bridge/deps.js'
import type { Metrics } from './metrics.js'
import rateLimit from '@fastify/rate-limit'
import admin from './routes/admin.js'
import { clientAddress } from './routes/client-address.js'
import { RefusalNotebook } from './refusals.js'
import type { Reachability } from './clients/reachability.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    store: Store
    worker: Worker
    clients: Clients
    metrics: Metrics
    refusals: RefusalNotebook
    reachability: Reachability
    /** What routes hand their events to: the domain's dependencies (server/bridge). */
    bridge: BridgeDeps
  }
}

export interface AppOptions {
  config: Config
  store: Store
  worker: Worker
  clients: Clients
  deps: BridgeDeps
  metrics: Metrics
  /** The clock for refusal warnings (tests move it). */
  now?: () => number
}

/** The shared pieces every route plugin can reach, decorated once at the root. */
const context = fp<AppOptions>(
  async (app, opts) => {
    app.decorate('config', opts.config)
    app.decorate('store', opts.store)
    app.decorate('worker', opts.worker)
    app.decorate('clients', opts.clients)
    app.decorate('metrics', opts.metrics)
    app.decorate('reachability', opts.deps.reachability)
    app.decorate('bridge', opts.deps)
    app.decorate('refusals', new RefusalNotebook({ config: opts.config, metrics: opts.metrics }, opts.now))
  },
  { name: 'sms-bridge-context' },
)

/**
 * The whole service as a plugin: it never listens; `main` and the tests decide where it runs. Not
 * encapsulated, so whoever registers it can reach the decorators (the worker, the store).
 */
const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  await fastify.register(context, opts)
  // Twilio posts form bodies.
  await fastify.register(formbody)
  // Limits are set per route (public media links, admin surfaces); signed webhooks get none by default.
  await fastify.register(rateLimit, { global: false, keyGenerator: (req) => clientAddress(req, opts.config) })

  // The one place errors become answers: a route throws an AppError (its code and sentence are for
  // the caller) or Fastify's own (bad JSON, too large); anything else is ours and says nothing more.
  fastify.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    // Refused before a large body was read (a missing signature header, a rate limit): the connection
    // closes with the answer. Kept open, Node would read the rest of the body only to drop it, and a
    // flood of unsigned 256 KB forms held 60 MB of such buffers (the bench's abuse phase). A body of
    // up to the service's default body limit (16 KB) is cheap to drain and keeps its connection.
    if (!req.raw.complete && unreadBodyIsLarge(req.headers, req.server.initialConfig.bodyLimit)) reply.header('connection', 'close')
    if (err instanceof AppError) {
      if (err.statusCode >= 500) req.log.warn({ code: err.code, err: err.message }, 'request failed upstream')
      return reply.code(err.statusCode).send({ error: { code: err.code, message: err.message, ...err.fields } })
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) {
      req.log.error({ err }, 'request failed')
      return reply.code(status).send({ error: { code: 'internal_error', message: 'Something went wrong on our side.' } })
    }
    return reply.code(status).send({ error: { code: err.code ?? 'bad_request', message: err.message } })
  })

  fastify.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: { code: 'not_found', message: `No route for ${req.method} ${req.url.split('?')[0]}` } }),
  )

  await fastify.register(health)
  await fastify.register(twilio)
  await fastify.register(intercom)
  await fastify.register(series)
  await fastify.register(connectors)
  await fastify.register(canvasInbox)
  await fastify.register(canvasMessenger)
  await fastify.register(admin)
  await fastify.register(media)
}

/** A body of unknown length (chunked), or declared longer than `limit`. */
function unreadBodyIsLarge(headers: IncomingHttpHeaders, limit = 0): boolean {
  if (headers['transfer-encoding'] !== undefined) return true
  const length = Number(headers['content-length'] ?? 0)
  return !(length <= limit)
}

export default fp(app, { name: 'sms-bridge' })
