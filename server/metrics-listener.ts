import { createServer, type Server } from 'node:http'
import { BlockList, isIP } from 'node:net'
import { lookup } from 'node:dns/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { Metrics } from './metrics.js'

/** Addresses only this machine or its private network reach: loopback, RFC 1918, IPv6 unique-local (fly.io's 6PN is fdaa::/16). */
const PRIVATE = new BlockList()
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4')
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4')
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4')
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4')
PRIVATE.addAddress('::1', 'ipv6')
PRIVATE.addSubnet('fc00::', 7, 'ipv6')

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address)
  return family !== 0 && PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

export interface MetricsAddress {
  host: string
  port: number
}

/**
 * METRICS_LISTEN's value: host:port or [ipv6]:port. A literal address must be private or loopback
 * (never a wildcard or public one: the listener has no token); a name (fly.io's fly-local-6pn) is
 * checked the same way when it is resolved at start. Returns the problem as a sentence, or the address.
 */
export function parseMetricsListen(value: string): MetricsAddress | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([\w.-]+)):(\d{1,5})$/.exec(value.trim())
  const port = Number(m?.[3])
  if (!m || port < 1 || port > 65_535) return 'expected host:port, such as 127.0.0.1:9091 or [fdaa:0:1::2]:9091 or fly-local-6pn:9091'
  const host = (m[1] ?? m[2])!
  if (isIP(host) && !isPrivateAddress(host))
    return `${host} is not a private or loopback address: /metrics on this listener has no token, so it must not be reachable from the internet (0.0.0.0 and :: are every address)`
  return { host, port }
}

/**
 * A second listener that serves GET /metrics without a token, for scrapers that cannot send one
 * (fly.io's, which scrapes each machine's private address). Every address the host resolves to
 * must be private; anything else is refused before listening.
 */
export async function listenForMetrics(metrics: Metrics, address: MetricsAddress, log: FastifyBaseLogger): Promise<Server> {
  const resolved = isIP(address.host) ? address.host : (await lookup(address.host)).address
  if (!isPrivateAddress(resolved))
    throw new Error(
      `METRICS_LISTEN: ${address.host} is ${resolved}, not a private or loopback address; refusing to serve /metrics there without a token`,
    )
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        log.error({ err }, 'could not collect metrics')
        res.writeHead(500).end()
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, resolved, () => resolve())
  })
  const bound = server.address()
  log.info(
    { metricsListen: bound },
    `metrics served without a token on ${typeof bound === 'object' && bound ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : resolved}/metrics (a private address)`,
  )
  return server
}
