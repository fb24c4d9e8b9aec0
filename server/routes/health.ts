import type { FastifyPluginAsync } from 'fastify'
import { pendingMigrations, ping } from '../../shared/db/database.js'
import { VERSION } from '../../shared/version.js'

/** Liveness and readiness for fly.io's health checks and for people. */
const health: FastifyPluginAsync = async (app) => {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok', version: VERSION }))

  app.get('/readyz', { logLevel: 'warn' }, async (_req, reply) => {
    try {
      await ping(app.store)
      const pending = await pendingMigrations(app.store)
      if (pending.length > 0) {
        return reply.code(503).send({ status: 'not ready', reason: `migrations not applied: ${pending.join(', ')}` })
      }
      return { status: 'ready' }
    } catch (err) {
      app.log.error({ err }, 'readiness check failed')
      return reply.code(503).send({ status: 'not ready', reason: 'the database cannot be reached' })
    }
  })
}

export default health
