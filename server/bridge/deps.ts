import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../../shared/db/database.js'
import type { IntercomApi } from '../clients/intercom.js'
import type { TwilioApi } from '../clients/twilio.js'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import type { Reachability } from '../clients/reachability.js'
import type { Clock } from '../../shared/clock.js'

/** What domain handlers get: no Fastify, no HTTP, just storage, settings and the two API adapters. */
export interface BridgeDeps {
  store: Store
  config: Config
  intercom: IntercomApi
  twilio: TwilioApi
  log: FastifyBaseLogger
  metrics: Metrics
  /** Upstream outages as one line a minute, not a stack per failure. */
  reachability: Reachability
  /** What time it is for budgets, code expiries and held texts (tests move it). */
  clock: Clock
}
