import type { FastifyInstance, FastifyListenOptions } from 'fastify'
import type { Config } from './config.js'
import { buildServer, type BuildOptions } from './server.js'
import { scheduleCatchUp } from './bridge/catchup.js'
import { scheduleMaintenance } from './bridge/maintenance.js'
import { optOutScope } from './bridge/consent.js'
import { closeOnSignals } from './shutdown.js'
import { listenForMetrics } from './metrics-listener.js'
import { MemoryReleaser, memoryReducingCollection } from './memory.js'
import type { Server } from 'node:http'

export interface StartOptions extends BuildOptions {
  /** Where to listen (default: PORT and HOST); false: no socket, for tests that `inject`. */
  listen?: FastifyListenOptions | false
  /** Stop gracefully on SIGTERM/SIGINT (the real service; tests and the demo close it themselves). */
  handleSignals?: boolean
  /** Start the job worker (default true); a test that checks the queue's state leaves it stopped. */
  startWorker?: boolean
  /** Give V8's spare heap pages back to the system after bursts (server/memory.ts; the real service). */
  releaseMemory?: boolean
}

/**
 * The one way the service starts, for `npm start`, the demo and the tests alike: builds it, listens,
 * queues the recurring jobs (the catch-up on texts missed while it was down, made due now; the
 * pruning; the checkpoint), learns the workspace id, and starts the job worker. With signals, a
 * SIGTERM/SIGINT stops taking requests, lets running jobs finish (bounded) and closes the database.
 */
export async function startService(config: Config, options: StartOptions = {}): Promise<FastifyInstance> {
  const {
    listen = { port: config.port, host: config.host },
    handleSignals = false,
    startWorker = true,
    releaseMemory = false,
    ...build
  } = options
  const server = await buildServer(config, build)
  let metricsListener: Server | undefined
  const collect = releaseMemory ? memoryReducingCollection() : null
  const releaser = collect ? new MemoryReleaser({ clock: server.bridge.clock, collect, log: server.log, metrics: server.metrics }) : null
  server.addHook('onClose', async () => {
    releaser?.stop()
    await new Promise((resolve) => (metricsListener ? metricsListener.close(resolve) : resolve(undefined)))
  })
  try {
    if (handleSignals) closeOnSignals({ log: server.log, graceMs: 20_000, close: () => server.close() })
    if (listen) await server.listen(listen)
    else await server.ready()
    if (listen && config.metricsListen) metricsListener = await listenForMetrics(server.metrics, config.metricsListen, server.log)
    warnIfRevokeAllApplies(server)
    await scheduleCatchUp(server.store, server.bridge.clock.now())
    await scheduleMaintenance(server.store, server.bridge.clock.now())
  } catch (err) {
    await server.close()
    throw err
  }
  // Canvas Kit requests must name our workspace: learn it now, so the first sidebar opens fast.
  server.bridge.intercom.workspaceId().catch((err: unknown) => {
    const next = 'the first Canvas Kit request will ask for the workspace id again'
    if (!server.reachability.warnIfUnreachable(server.log, err, next))
      server.log.warn({ err }, `could not ask Intercom for the workspace id yet; ${next}`)
  })
  if (startWorker) server.worker.start()
  releaser?.start()
  return server
}

/** OPT_OUT_SCOPE=marketing past the FCC's revoke-all date: ignored (every opt-out stops every automated text), and said. */
function warnIfRevokeAllApplies(server: FastifyInstance): void {
  if (server.config.optOutScope === 'marketing' && optOutScope(server.config, server.bridge.clock.now()) === 'all') {
    server.log.warn(
      'OPT_OUT_SCOPE=marketing is ignored: since 2027-01-31 (the FCC revoke-all rule) an opt-out stops every automated text. Remove the setting.',
    )
  }
}
