import { safeEqual } from '../../shared/signatures.js'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { discardDeadJob, listJobs, retryDeadJob } from '../jobs/queue.js'

const ADMIN_LIMIT = { rateLimit: { max: 120, timeWindow: '1 minute' } }

/**
 * Operator surfaces: Prometheus metrics and the dead-job API. Both need
 * `Authorization: Bearer <ADMIN_TOKEN>`; with no token configured they are off (404 saying so).
 */
const admin: FastifyPluginAsync = async (app) => {
  function authorized(req: FastifyRequest, reply: FastifyReply): boolean {
    const token = app.config.adminToken
    if (!token) {
      // Off, not missing: say so, and how to turn it on (404 still: there is nothing here to reach).
      reply.code(404).send({
        error: {
          code: 'admin_off',
          message: `${req.url.split('?')[0]} is off because ADMIN_TOKEN is not set. Set ADMIN_TOKEN (a long random string) to turn on /metrics and the /admin API, then send Authorization: Bearer <ADMIN_TOKEN>. Without a token they stay off, so that the queue and the service's figures are never public.`,
        },
      })
      return false
    }
    if (!safeEqual(req.headers.authorization ?? '', `Bearer ${token}`)) {
      reply.code(401).send({ error: { code: 'unauthorized', message: 'Send Authorization: Bearer <ADMIN_TOKEN>.' } })
      return false
    }
    return true
  }

  app.get('/metrics', { config: ADMIN_LIMIT, logLevel: 'warn' }, async (req, reply) => {
    if (!authorized(req, reply)) return reply
    return reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics())
  })

  // For `sms-bridge doctor`: requests refused for their signature since this process started.
  app.get('/admin/refusals', { config: ADMIN_LIMIT }, async (req, reply) => {
    if (!authorized(req, reply)) return reply
    return { since: new Date(app.refusals.startedAt).toISOString(), surfaces: app.refusals.summary().map((r) => ({ ...r, last: new Date(r.last).toISOString() })) }
  })

  app.get<{ Querystring: { state?: string } }>('/admin/jobs', { config: ADMIN_LIMIT }, async (req, reply) => {
    if (!authorized(req, reply)) return reply
    const state = req.query.state ?? 'dead'
    if (!['waiting', 'running', 'dead'].includes(state)) {
      return reply.code(400).send({ error: { code: 'invalid_state', message: 'state: expected waiting, running or dead' } })
    }
    const jobs = await listJobs(app.store.db, state as 'waiting' | 'running' | 'dead')
    return { jobs: jobs.map((j) => ({ id: j.id, task: j.task, state: j.state, attempts: j.attempts, max_attempts: j.max_attempts, run_at: new Date(j.run_at).toISOString(), last_error: j.last_error })) }
  })

  /** A job id from the path: a positive whole number, else a 400 (not a 500, not a lookup). */
  function jobId(req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): number | null {
    if (/^[1-9]\d{0,14}$/.test(req.params.id)) return Number(req.params.id)
    reply.code(400).send({ error: { code: 'invalid_id', message: 'id: expected a job number, e.g. /admin/jobs/42/retry' } })
    return null
  }

  app.post<{ Params: { id: string } }>('/admin/jobs/:id/retry', { config: ADMIN_LIMIT }, async (req, reply) => {
    if (!authorized(req, reply)) return reply
    if (jobId(req, reply) === null) return reply
    const done = await retryDeadJob(app.store, Number(req.params.id))
    if (done) app.worker.wake()
    return done ? { retried: Number(req.params.id) } : reply.code(404).send({ error: { code: 'not_found', message: `No dead job ${req.params.id}.` } })
  })

  app.delete<{ Params: { id: string } }>('/admin/jobs/:id', { config: ADMIN_LIMIT }, async (req, reply) => {
    if (!authorized(req, reply)) return reply
    if (jobId(req, reply) === null) return reply
    const done = await discardDeadJob(app.store, Number(req.params.id))
    return done ? { discarded: Number(req.params.id) } : reply.code(404).send({ error: { code: 'not_found', message: `No dead job ${req.params.id}.` } })
  })
}

export default admin
