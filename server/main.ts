import type { FastifyInstance } from 'fastify'
import type { Config } from './config.js'
import { buildServer } from './server.js'
import { scheduleCatchUp } from './bridge/catchup.js'
import { scheduleMaintenance } from './bridge/maintenance.js'
import { workspaceId } from './bridge/intercom.js'
import { closeOnSignals } from './shutdown.js'

/**
 * Builds the service, listens, starts the job worker, and on SIGTERM/SIGINT stops taking requests,
 * lets running jobs finish (bounded) and closes the database.
 */
export async function startService(config: Config): Promise<FastifyInstance> {
  const server = await buildServer(config)
  closeOnSignals({ log: server.log, graceMs: 20_000, close: () => server.close() })
  await server.listen({ port: config.port, host: config.host })
  await scheduleCatchUp(server.store)
  await scheduleMaintenance(server.store)
  // Canvas Kit requests must name our workspace: learn it now, so the first sidebar opens fast.
  workspaceId({ store: server.store, config, clients: server.clients }).catch((err) => {
    const next = 'the first Canvas Kit request will ask for the workspace id again'
    if (!server.reachability.warnIfUnreachable(server.log, err, next)) server.log.warn({ err }, `could not ask Intercom for the workspace id yet; ${next}`)
  })
  server.worker.start()
  return server
}
