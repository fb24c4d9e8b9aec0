import type { TestApp } from '../helper.js'
import { connectorToken } from '../../shared/signatures.js'
import { CONNECTOR_PATHS } from '../../server/routes/connectors.js'

/** A data connector's call as Intercom makes it: JSON, with the bearer token `setup` gave the connector. */
export function callConnector(ctx: Pick<TestApp, 'app' | 'config'>, connector: 'workflows' | 'fin', body: unknown, token?: string) {
  return ctx.app.inject({
    method: 'POST',
    url: CONNECTOR_PATHS[connector],
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token ?? connectorToken(ctx.config.intercom.clientSecret, connector)}`,
    },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  })
}
