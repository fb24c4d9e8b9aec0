import { isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config.js'

/**
 * The address a request came from, for rate limits: the value of the header the proxy in front of
 * us sets and overwrites (fly.io's Fly-Client-IP, or CLIENT_IP_HEADER), else the connection's own
 * address. X-Forwarded-For is never read: a client can write anything in it.
 */
export function clientAddress(req: FastifyRequest, config: Pick<Config, 'clientIpHeader'>): string {
  if (config.clientIpHeader) {
    const given = req.headers[config.clientIpHeader]
    const value = (Array.isArray(given) ? given[0] : given)?.trim()
    if (value && isIP(value)) return value
  }
  return req.socket.remoteAddress ?? 'unknown'
}
