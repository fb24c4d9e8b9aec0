import type { IntercomClient } from 'intercom-client'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import { createIntercomClient } from './intercom.js'
import { createTwilioClient, type TwilioClient } from './twilio.js'

/** Outbound clients, injected so tests can point them at local stand-ins and count every call. */
export interface Clients {
  twilio: TwilioClient
  intercom: IntercomClient
}

export function createClients(config: Config, metrics?: Metrics): Clients {
  return { twilio: createTwilioClient(config.twilio, metrics), intercom: createIntercomClient(config.intercom, metrics) }
}
