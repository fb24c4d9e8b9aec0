import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config.js'
import { buildServer } from './server.js'
import { scheduleCatchUp } from './bridge/catchup.js'
import { schedulePrune } from './bridge/maintenance.js'
import { workspaceId } from './bridge/intercom.js'

/**
 * Builds the service, listens, starts the job worker, and on SIGTERM/SIGINT stops taking requests,
 * lets running jobs finish (bounded) and closes the database.
 */
export async function startService(config: Config): Promise<FastifyInstance> {
  const server = await buildServer(config)
  // Fault signals are left alone: nothing graceful can follow them, and Deno refuses to bind them.
  closeWithGrace({ delay: 20_000, skip: ['SIGILL', 'SIGTRAP', 'SIGBUS', 'SIGFPE', 'SIGSEGV'] }, async ({ signal, err }) => {
    if (err) server.log.error({ err }, 'shutting down after an unexpected error')
    else server.log.info({ signal }, 'shutting down')
    await server.close()
  })
  await server.listen({ port: config.port, host: config.host })
  await scheduleCatchUp(server.store)
  await schedulePrune(server.store)
  // Canvas Kit requests must name our workspace: learn it now, so the first sidebar opens fast.
  workspaceId({ store: server.store, config, clients: server.clients }).catch((err) =>
    server.log.warn({ err }, 'could not ask Intercom for the workspace id yet; the first Canvas Kit request will ask again'),
  )
  server.worker.start()
  return server
}
