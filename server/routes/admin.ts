import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { CountryCode } from 'libphonenumber-js'
import { z } from 'zod'
import { AppError } from '../../shared/errors.js'
import { parseBody } from '../../shared/http.js'
import { maskPhone, maskPhonesInText } from '../../shared/log.js'
import { toE164 } from '../../shared/phone.js'
import { safeEqual } from '../../shared/signatures.js'
import { MAX_MEDIA_PER_TEXT, MAX_SMS_BODY } from '../../shared/text.js'
import { estimateText } from '../bridge/estimate.js'
import { discardDeadJob, listJobs, retryDeadJob } from '../queue/queue.js'
import adminBroadcasts from './admin-broadcasts.js'
import { pausedSenders } from '../../shared/db/pacing.js'
import { resumeSending } from '../bridge/pacing.js'

const ADMIN_LIMIT = { rateLimit: { max: 120, timeWindow: '1 minute' } }

const estimateBody = z.object({
  to: z
    .string({ error: 'required: the number the text would go to' })
    .trim()
    .min(1, 'must not be empty')
    .max(32, 'must be at most 32 characters'),
  text: z.string({ error: 'required: the words of the text' }).max(MAX_SMS_BODY, `must be at most ${MAX_SMS_BODY} characters`),
  mediaCount: z.number().int().min(0).max(MAX_MEDIA_PER_TEXT, `must be at most ${MAX_MEDIA_PER_TEXT}`).default(0),
})

/** What a text would cost before anyone sends it: the sidebar's counter, for operators and scripts. */
function estimateRoute(app: FastifyInstance): void {
  app.post('/admin/estimate', { config: ADMIN_LIMIT }, async (req) => {
    const b = parseBody(estimateBody, req.body, 'invalid_request', { withField: true })
    const to = toE164(b.to, app.config.defaultCountry as CountryCode | undefined)
    if (!to) throw new AppError('invalid_request', 'to: not a phone number (give it as +14155550123)', 400, { field: 'to' })
    const estimate = await estimateText(app.bridge, { phone: to, body: b.text, mediaCount: b.mediaCount })
    return { to: maskPhone(to), ...estimate }
  })
}

/**
 * Operator surfaces: Prometheus metrics, the dead-job API and the estimate of a text. All need
 * `Authorization: Bearer <ADMIN_TOKEN>`; with no token configured they are off (404 saying so).
 */
const admin: FastifyPluginAsync = async (app) => {
  // Every route of this plugin, before anything else is read.
  app.addHook('preValidation', async (req) => {
    const token = app.config.adminToken
    if (!token) {
      // Off, not missing: say so, and how to turn it on (404 still: there is nothing here to reach).
      throw new AppError(
        'admin_off',
        `${req.url.split('?')[0]} is off because ADMIN_TOKEN is not set. Set ADMIN_TOKEN (a long random string) to turn on /metrics and the /admin API, then send Authorization: Bearer <ADMIN_TOKEN>. Without a token they stay off, so that the queue and the service's figures are never public.`,
        404,
      )
    }
    if (!safeEqual(req.headers.authorization ?? '', `Bearer ${token}`))
      throw new AppError('unauthorized', 'Send Authorization: Bearer <ADMIN_TOKEN>.', 401)
  })

  app.get('/metrics', { config: ADMIN_LIMIT, logLevel: 'warn' }, async (req, reply) => {
    return reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics())
  })

  // For `sms-bridge doctor`: requests refused for their signature since this process started.
  app.get('/admin/refusals', { config: ADMIN_LIMIT }, async () => {
    return {
      since: new Date(app.refusals.startedAt).toISOString(),
      surfaces: app.refusals.summary().map((r) => ({ ...r, last: new Date(r.last).toISOString() })),
    }
  })

  estimateRoute(app)

  app.get<{ Querystring: { state?: string } }>('/admin/jobs', { config: ADMIN_LIMIT }, async (req) => {
    const state = req.query.state ?? 'dead'
    if (!['waiting', 'running', 'dead'].includes(state)) {
      throw new AppError('invalid_state', 'state: expected waiting, running or dead', 400)
    }
    const jobs = await listJobs(app.store.db, state as 'waiting' | 'running' | 'dead')
    // Upstream errors quote the numbers they refused: masked here as in the logs.
    return {
      jobs: jobs.map((j) => ({
        id: j.id,
        task: j.task,
        state: j.state,
        attempts: j.attempts,
        max_attempts: j.max_attempts,
        run_at: new Date(j.run_at).toISOString(),
        last_error: j.last_error === null ? null : maskPhonesInText(j.last_error),
      })),
    }
  })

  /** A job id from the path: a positive whole number, else a 400 (not a 500, not a lookup). */
  function jobId(req: FastifyRequest<{ Params: { id: string } }>): number {
    if (/^[1-9]\d{0,14}$/.test(req.params.id)) return Number(req.params.id)
    throw new AppError('invalid_id', 'id: expected a job number, e.g. /admin/jobs/42/retry', 400)
  }
  const noDeadJob = (id: number) => new AppError('not_found', `No dead job ${id}.`, 404)

  app.post<{ Params: { id: string } }>('/admin/jobs/:id/retry', { config: ADMIN_LIMIT }, async (req) => {
    const id = jobId(req)
    if (!(await retryDeadJob(app.store, id))) throw noDeadJob(id)
    return { retried: id }
  })

  // Broadcasts: their own file, behind the same token (a child plugin inherits this one's hook).
  await app.register(adminBroadcasts)

  app.delete<{ Params: { id: string } }>('/admin/jobs/:id', { config: ADMIN_LIMIT }, async (req) => {
    const id = jobId(req)
    if (!(await discardDeadJob(app.store, id))) throw noDeadJob(id)
    return { discarded: id }
  })

  senderRoutes(app)
}

/** A sender that paused its automated and bulk texts (pacing.ts): which, and resuming one. */
function senderRoutes(app: FastifyInstance): void {
  app.get('/admin/senders', { config: ADMIN_LIMIT }, async () => {
    const paused = await pausedSenders(app.store.db)
    return {
      paused: paused.map((p) => ({
        sender: p.sender,
        since: new Date(p.paused_at!).toISOString(),
        reason: p.paused_why,
        detail: JSON.parse(p.paused_detail ?? 'null') as unknown,
      })),
    }
  })

  app.post<{ Params: { sender: string } }>('/admin/senders/:sender/resume', { config: ADMIN_LIMIT }, async (req) => {
    const sender = req.params.sender
    if (!/^(\+[1-9]\d{6,14}|\d{3,8}|MG[0-9a-fA-F]{32})$/.test(sender)) {
      throw new AppError('invalid_sender', 'sender: expected a number such as %2B14155550100, a short code or a Messaging Service SID', 400)
    }
    if ((await resumeSending(app.bridge, sender)) === 'not_paused') throw new AppError('not_found', `Sender ${sender} is not paused.`, 404)
    return { resumed: sender }
  })
}

export default admin
