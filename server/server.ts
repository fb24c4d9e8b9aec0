import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { DestinationStream } from 'pino'
import { migrate, openStore, type MigrateOutcome, type Store } from '../shared/db/database.js'
import { PRODUCT, VERSION } from '../shared/version.js'
import { applyStagedRestore, databaseFile } from '../shared/db/backup.js'
import { loggerOptions, stdoutLog } from '../shared/log.js'
import app from './app.js'
import { createClients, type Clients } from './clients/index.js'
import { IntercomApi } from './clients/intercom.js'
import { RatePacer } from './clients/pacer.js'
import { TwilioApi } from './clients/twilio.js'
import type { Config } from './config.js'
import { Worker, type TaskDefinition, type WorkerOptions } from './queue/worker.js'
import { createTasks } from './tasks.js'
import { migrateSentences } from './ops/migrate.js'
import { Metrics } from './metrics.js'
import { Reachability } from './clients/reachability.js'
import type { BridgeDeps } from './bridge/deps.js'
import { systemClock, type Clock } from '../shared/clock.js'

/**
 * What one client can hold of the service, in one place. Twilio waits 15 s for an answer and
 * Intercom 5 s, and both send their whole request in milliseconds: a request still arriving after
 * these times is a client holding memory, not a webhook.
 */
export interface HttpLimits {
  /** The headers must have arrived this long after the connection opened. */
  headersTimeoutMs: number
  /** The whole request, body included, must have arrived within this. */
  requestTimeoutMs: number
  /** A connection on which nothing moves either way for this long is closed (a reader that never reads, too). */
  idleTimeoutMs: number
  /** An idle keep-alive connection is kept this long: Fastify's default, longer than proxies keep theirs. */
  keepAliveTimeoutMs: number
  /** How often the two request timeouts are checked (Node's default, 30 s, would stretch them). */
  checkEveryMs: number
  /** Connections at once; more are closed as they open. Above fly.io's hard limit of 250 requests. */
  maxConnections: number
  /** Requests on one keep-alive connection before it is recycled. */
  maxRequestsPerSocket: number
}

export const HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 20_000,
  idleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
  checkEveryMs: 1_000,
  maxConnections: 300,
  maxRequestsPerSocket: 1_000,
}

/** The body limit of every route that sets none of its own (admin, health): none takes a body larger. */
export const DEFAULT_BODY_LIMIT = 16 * 1024

export interface BuildOptions {
  /** Tighter timeouts and caps (tests of slow clients); the rest stay as in HTTP_LIMITS. */
  httpLimits?: Partial<HttpLimits>
  /** Replace the real clients (tests hand in clients pointed at local stand-ins). */
  clients?: Clients
  /** Where log lines go (tests capture them to prove nothing sensitive is written). */
  logDestination?: DestinationStream
  /** Extra or replacement job handlers. */
  tasks?: Record<string, TaskDefinition>
  /** The clock the queue (claims, leases, backoff), the outage lines and the refusal warnings read; tests move it. */
  clock?: Clock
  worker?: Partial<Pick<WorkerOptions, 'leaseMs' | 'pollIntervalMs' | 'backoff' | 'onSettled'>>
}

/**
 * One log line per request, when it is answered, instead of Fastify's two (logging was a tenth of
 * the time a webhook took). Errors are still logged as Fastify logs them. Health checks come every
 * few seconds from fly.io: they are only worth a line when debugging.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    if (error) return super.requestCompleted(error, req, reply)
    const route = req.routeOptions.url
    const level = route === '/healthz' || route === '/readyz' ? 'debug' : 'info'
    reply.log[level](
      { method: req.method, url: req.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime },
      'request completed',
    )
  }
}

/**
 * Where log lines go: the given destination (tests), or standard output (`stdoutLog`: never holds up
 * a stop), as JSON or, with LOG_FORMAT=pretty, through pino-pretty in this thread (a transport would
 * need a worker thread, and the last lines of a shutdown must not wait for one).
 */
async function logStream(config: Config, destination: DestinationStream | undefined): Promise<{ stream?: DestinationStream }> {
  if (destination) return { stream: destination }
  // Loaded only when asked for: most deployments never need it.
  const { default: pretty } = config.logFormat === 'pretty' ? await import('pino-pretty') : { default: undefined }
  if (pretty)
    return {
      stream: pretty({
        destination: stdoutLog(),
        colorize: process.stdout.isTTY === true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
      }),
    }
  return { stream: stdoutLog() }
}

/** The start's lines about migrations: what was applied, and the way back that was kept (or not). */
function logMigrated(log: FastifyBaseLogger, outcome: MigrateOutcome, now: number): void {
  if (outcome.applied.length === 0) return
  const [applied, ...wayBack] = migrateSentences(outcome, now)
  log.info({ migrations: outcome.applied, backup: outcome.backup, pruned: outcome.pruned }, `database migrated (${applied})`)
  for (const line of wayBack) log[outcome.remote ? 'warn' : 'info'](line)
}

/**
 * Opens the database, applies migrations, and builds the Fastify instance with the app and its job
 * worker (not yet started). Closing the instance stops the worker and closes the database.
 */
export async function buildServer(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const fastify = await createFastify(config, options)
  const log = fastify.log
  log.info({ version: VERSION, node: process.version }, `${PRODUCT} ${VERSION} starting`)
  const clock = options.clock ?? systemClock
  const store = await openDatabase(log, config)
  await closingOnFailure(store, async () => {
    const now = clock.now()
    logMigrated(log, await migrate(store, { now }), now)
  })
  const { deps, clients } = bridgeDeps(log, config, { store, clock }, options)
  const tasks = await closingOnFailure(store, () => ({ ...createTasks(deps), ...options.tasks }))
  const worker = createWorker(log, deps, tasks, options)
  const metrics = deps.metrics
  fastify.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) })
  })
  await fastify.register(app, { config, store, worker, clients, deps, metrics, now: () => clock.now() })
  fastify.addHook('onClose', async () => {
    await worker.stop()
    await store.close()
  })
  return fastify
}

/** The Fastify instance with the service's limits, request ids and log lines; nothing registered yet. */
async function createFastify(config: Config, options: BuildOptions): Promise<FastifyInstance> {
  const limits = { ...HTTP_LIMITS, ...options.httpLimits }
  const fastify = Fastify({
    logger: { ...loggerOptions(config.logLevel), ...(await logStream(config, options.logDestination)) },
    // X-Forwarded-For is whatever a client writes: never believed. The client's address, for rate
    // limits, is the connection's, or the one header the proxy in front sets itself (CLIENT_IP_HEADER,
    // which fly.toml sets to Fly-Client-IP); signatures use PUBLIC_URL, not the scheme or host a request claims.
    trustProxy: false,
    bodyLimit: DEFAULT_BODY_LIMIT,
    connectionTimeout: limits.idleTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.checkEveryMs,
    },
    logController: new OneLinePerRequest(),
    genReqId: (req) => {
      const given = req.headers['fly-request-id'] ?? req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID()
    },
  })
  fastify.server.maxConnections = limits.maxConnections
  return fastify
}

/** Opens the database, after putting a staged backup in its place. */
async function openDatabase(log: FastifyBaseLogger, config: Config): Promise<Store> {
  // `sms-bridge restore FILE` stages a backup; it takes the database's place now, before anything opens it.
  const dbFile = databaseFile(config.database.url)
  const kept = dbFile ? applyStagedRestore(dbFile) : undefined
  if (kept) log.warn({ database: dbFile, kept }, 'restored the database from the staged backup; the database it replaced is kept beside it')
  return openStore({ url: config.database.url, authToken: config.database.authToken })
}

/** Runs a step of the start; when it fails, the database is closed before the failure goes on. */
async function closingOnFailure<T>(store: Store, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (err) {
    await store.close()
    throw err
  }
}

/** What the domain is handed: the store, the adapters over the clients, metrics, outage tracking, the clock. */
function bridgeDeps(
  log: FastifyBaseLogger,
  config: Config,
  opened: { store: Store; clock: Clock },
  options: BuildOptions,
): { deps: BridgeDeps; clients: Clients } {
  const { store, clock } = opened
  const metrics = new Metrics(store)
  const reachability = new Reachability(log.child({ component: 'upstream' }), () => clock.now())
  metrics.reachability = reachability
  const clients = options.clients ?? createClients(config, metrics)
  const deps: BridgeDeps = {
    store,
    config,
    intercom: new IntercomApi(clients.intercom, config, store, { metrics, pacer: new RatePacer(clock, config.intercom.rateShare) }),
    twilio: new TwilioApi(clients.twilio, config.twilio, `${config.publicUrl}/twilio/status`, metrics),
    log: log.child({ component: 'bridge' }),
    metrics,
    reachability,
    clock,
  }
  return { deps, clients }
}

/** The job worker over these tasks (not yet started); each settled job is counted. */
function createWorker(log: FastifyBaseLogger, deps: BridgeDeps, tasks: Record<string, TaskDefinition>, options: BuildOptions): Worker {
  const { store, config, metrics, reachability, clock } = deps
  return new Worker({
    store,
    log: log.child({ component: 'worker' }),
    tasks,
    concurrency: config.workerConcurrency,
    leaseMs: config.jobLeaseMs,
    reachability,
    clock,
    ...options.worker,
    onSettled: (job, outcome, error) => {
      metrics.jobsSettled.inc({ task: job.task, outcome })
      options.worker?.onSettled?.(job, outcome, error)
    },
  })
}
