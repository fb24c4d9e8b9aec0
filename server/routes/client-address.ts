import { isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config.js'

/**
 * The address a request came from, for rate limits: the connection's own address, or, when
 * CLIENT_IP_HEADER names one, the header the proxy in front of us sets and overwrites (fly.io's
 * Fly-Client-IP: fly.toml names it). Off such a proxy the client writes that header, so it is read
 * only when configured. X-Forwarded-For is never read: a client can write anything in it.
 */
export function clientAddress(req: FastifyRequest, config: Pick<Config, 'clientIpHeader'>): string {
  if (config.clientIpHeader) {
    const given = req.headers[config.clientIpHeader]
    const value = (Array.isArray(given) ? given[0] : given)?.trim()
    if (value && isIP(value)) return value
  }
  return req.socket.remoteAddress ?? 'unknown'
}
