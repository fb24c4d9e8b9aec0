import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { Readable, Transform } from 'node:stream'
import { UpstreamError } from '../../shared/errors.js'
import { MAX_MMS_BYTES, bareType } from '../../shared/mime.js'
import { networkCode, type Api } from './reachability.js'

// How both adapters download a file (Twilio's MMS media, Intercom's uploads): every hop checked
// against the adapter's policy, a time limit, a size cap, and each failure classified as every
// other call's is. The bytes stream, with backpressure: a reader that stops reading holds a socket's
// buffer, not the file.

/**
 * Where a download may go, and how. Every hop (the link and each redirect) must pass `allowed` and
 * resolve to public addresses only, except on `trustedOrigin`: the configured API origin, which a
 * deployment may put behind a proxy on a private address (and the tests' stand-ins run on loopback).
 * `headers` (credentials) go to the first origin only.
 */
export interface DownloadPolicy {
  api: Api
  /** The API's name as reasons say it ("Intercom", "Twilio"). */
  from: string
  allowed: (url: URL) => boolean
  trustedOrigin: string
  headers?: Record<string, string>
  /** The adapter's fetch: the metrics' instrumented one, so downloads are timed and counted as calls. */
  fetch: typeof fetch
}

/** A download under way: its type, and its bytes as a stream that fails past `MAX_MMS_BYTES`. */
export interface Download {
  contentType: string
  /** The declared length, when it is the file's (not a compressed answer's). */
  size: number | null
  body: Readable
}

/** How long a download may take, its answer and its bytes together. */
export const DOWNLOAD_TIMEOUT_MS = 15_000

/** Redirects followed at most: a CDN hop or two is normal; more is a loop or a detour. */
export const MAX_REDIRECTS = 3

// Addresses a download must never reach: this machine, the private networks around it, the cloud's
// metadata service (link-local), carrier-grade NAT, multicast, reserved and unspecified ranges.
// IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) match the IPv4 rules.
const NOT_PUBLIC = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4')
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv6')
}

/** Whether an IP address is on the public internet (see NOT_PUBLIC). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address)
  return family !== 0 && !NOT_PUBLIC.check(address, family === 6 ? 'ipv6' : 'ipv4')
}

/** Why a hop may not be fetched, or null. Every address the name resolves to must be public. */
async function hopRefusal(url: URL, policy: DownloadPolicy): Promise<string | null> {
  if (url.origin === policy.trustedOrigin) return null
  if (!policy.allowed(url)) return `its link led to ${url.host}, which is not ${policy.from}'s`
  const host = url.hostname.replace(/^\[|\]$/g, '')
  let addresses: string[]
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address)
  } catch {
    return `its link led to ${url.host}, which could not be found`
  }
  return addresses.length > 0 && addresses.every(isPublicAddress) ? null : `its link led to ${url.host}, a private address`
}

/**
 * Fetches `url` following at most MAX_REDIRECTS redirects by hand, each hop checked against the
 * policy first. The check and the connection resolve the name separately: global fetch takes no
 * lookup of ours.
 */
async function fetchChecked(url: URL, policy: DownloadPolicy): Promise<Response | { refused: string }> {
  const signal = AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS)
  let current = url
  for (let hop = 0; ; hop++) {
    const refusal = await hopRefusal(current, policy)
    if (refusal) return { refused: refusal }
    const headers = current.origin === url.origin ? (policy.headers ?? {}) : {}
    const res = await policy.fetch(current, { headers, signal, redirect: 'manual' })
    const location = res.headers.get('location')
    if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res
    await res.body?.cancel()
    if (hop >= MAX_REDIRECTS) return { refused: `${policy.from} redirected it more than ${MAX_REDIRECTS} times` }
    current = new URL(location, current)
  }
}

const TOO_LARGE = `it is larger than ${MAX_MMS_BYTES / 1024 / 1024} MB, the most a text can carry`

/** Thrown by a download's body past `MAX_MMS_BYTES`. */
class FileTooLarge extends Error {
  constructor() {
    super(TOO_LARGE)
    this.name = 'FileTooLarge'
  }
}

/** Answers after which the same link may work a moment later: the host's passing trouble, not a refusal. */
const PASSING = (status: number) => status >= 500 || status === 429 || status === 408

/**
 * A failed download, classified as every call is: `retry` when the same link may work a moment later
 * (no answer, a timeout, a 5xx, a 408), `wait` for a 429, `give_up` otherwise (a refused hop, an
 * expired link, a file too large). The message is the reason, as the team's note says it.
 */
function failed(policy: DownloadPolicy, reason: string, details: { status?: number; cause?: unknown } = {}): UpstreamError {
  const status = details.status
  const outcome = status === 429 ? 'wait' : status !== undefined && PASSING(status) ? 'retry' : 'give_up'
  return new UpstreamError(policy.api, outcome, reason, { status, cause: details.cause })
}

/** The answer's status as a failure: an expired link (403, 404, 410) or what the host answered. */
function notServed(policy: DownloadPolicy, status: number): UpstreamError {
  const expired = status === 403 || status === 404 || status === 410
  return failed(policy, expired ? `${policy.from}'s link to it had expired` : `${policy.from} answered ${status} when it was downloaded`, {
    status,
  })
}

/**
 * Opens one file where the policy allows. A declared size over `MAX_MMS_BYTES` is refused before
 * anything is read, and the stream fails as soon as more arrives than that. Throws UpstreamError.
 */
export async function openDownload(url: URL, policy: DownloadPolicy): Promise<Download> {
  let res: Response | { refused: string }
  try {
    res = await fetchChecked(url, policy)
  } catch (err) {
    const why = (err as Error).name === 'TimeoutError' ? 'timed out' : 'no answer'
    throw new UpstreamError(policy.api, 'retry', `it could not be downloaded from ${policy.from} (${why})`, {
      code: networkCode(err),
      cause: err,
    })
  }
  if ('refused' in res) throw failed(policy, `it was not downloaded: ${res.refused}`)
  if (!res.ok || !res.body) {
    await res.body?.cancel()
    throw notServed(policy, res.status)
  }
  const declared = res.headers.get('content-length')
  if (Number(declared) > MAX_MMS_BYTES) {
    await res.body.cancel()
    throw failed(policy, TOO_LARGE)
  }
  // A compressed answer is decoded as it is read: its declared length is not the file's.
  const size = declared === null || res.headers.has('content-encoding') ? null : Number(declared)
  return { contentType: bareType(res.headers.get('content-type')) || 'application/octet-stream', size, body: capped(res.body) }
}

/** The answer's bytes as a Node stream that fails with FileTooLarge past `MAX_MMS_BYTES`. */
function capped(web: ReadableStream<Uint8Array>): Readable {
  let seen = 0
  const cap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.byteLength
      done(seen > MAX_MMS_BYTES ? new FileTooLarge() : null, chunk)
    },
  })
  const body = Readable.fromWeb(web).on('error', (err) => cap.destroy(err))
  return body.pipe(cap)
}

/** Downloads one file whole (to keep a copy): `openDownload`, read to the end within `MAX_MMS_BYTES`. */
export async function downloadWhole(url: URL, policy: DownloadPolicy): Promise<{ contentType: string; bytes: Uint8Array }> {
  const opened = await openDownload(url, policy)
  const chunks: Buffer[] = []
  try {
    for await (const chunk of opened.body as AsyncIterable<Buffer>) chunks.push(chunk)
  } catch (err) {
    opened.body.destroy()
    if (err instanceof FileTooLarge) throw failed(policy, TOO_LARGE)
    throw new UpstreamError(policy.api, 'retry', `it could not be downloaded from ${policy.from} (the download broke off)`, { cause: err })
  }
  return { contentType: opened.contentType, bytes: Buffer.concat(chunks) }
}
