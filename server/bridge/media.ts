import { Readable, Transform } from 'node:stream'
import { createHmac } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { derivedKey, safeEqual } from '../../shared/signatures.js'
import type { Message } from '../../shared/db/messages.js'
import type { Config } from '../config.js'

/** Intercom takes at most 10 attachment URLs per part. */
export const MAX_ATTACHMENTS = 10
/** How long a media link works; Intercom fetches attachments when the part is posted. */
export const MEDIA_TTL_MS = 7 * 86_400_000

// Links are signed with a key derived from the Twilio auth token: nothing is stored, and a leaked
// link reveals nothing about the token.
function sign(config: Pick<Config, 'twilio'>, payload: string): string {
  return createHmac('sha256', derivedKey(config.twilio.authToken, 'media-links-v1')).update(payload).digest('base64url').slice(0, 32)
}

/** Whether `signature` signs `payload` and the expiry (seconds) in it is still ahead. */
function signedAndCurrent(config: Pick<Config, 'twilio'>, payload: string, signature: string, expiresSeconds: string, now: number): boolean {
  return safeEqual(sign(config, payload), signature) && Number(expiresSeconds) * 1000 >= now
}

/**
 * An unguessable, expiring link to one media item of a message. Deterministic for a message, so a
 * retried post sends the same URLs.
 */
export function mediaToken(config: Pick<Config, 'twilio'>, messageId: number, position: number, expiresAt: number): string {
  const payload = `${messageId}.${position}.${Math.floor(expiresAt / 1000)}`
  return `${payload}.${sign(config, payload)}`
}

export function verifyMediaToken(
  config: Pick<Config, 'twilio'>,
  token: string,
  now: number,
): { messageId: number; position: number } | null {
  const m = /^(\d{1,15})\.(\d{1,2})\.(\d{1,12})\.([\w-]{32})$/.exec(token)
  if (!m || !signedAndCurrent(config, `${m[1]}.${m[2]}.${m[3]}`, m[4]!, m[3]!, now)) return null
  return { messageId: Number(m[1]), position: Number(m[2]) }
}

/** Public URLs through which Intercom fetches a message's pictures (never Twilio's own URLs). */
export function mediaUrls(config: Pick<Config, 'twilio' | 'publicUrl'>, message: Pick<Message, 'id' | 'media' | 'created_at'>): string[] {
  const expiresAt = message.created_at + MEDIA_TTL_MS
  return message.media
    .slice(0, MAX_ATTACHMENTS)
    .map((item, i) => `${config.publicUrl}/media/${mediaToken(config, message.id, i, expiresAt)}/${mediaFileName(`picture-${i + 1}`, item.contentType)}`)
}

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg', 'image/jpg': 'jpg', 'image/png': 'png', 'image/gif': 'gif', 'image/webp': 'webp', 'image/bmp': 'bmp', 'image/tiff': 'tiff',
  'video/mp4': 'mp4', 'video/quicktime': 'mov', 'video/3gpp': '3gp', 'video/3gpp2': '3g2', 'video/webm': 'webm', 'video/mpeg': 'mpg',
  'audio/mpeg': 'mp3', 'audio/mp4': 'm4a', 'audio/ogg': 'ogg', 'audio/amr': 'amr', 'audio/wav': 'wav', 'audio/3gpp': '3gp',
  'text/vcard': 'vcf', 'text/x-vcard': 'vcf', 'application/vcard': 'vcf', 'text/calendar': 'ics', 'text/plain': 'txt', 'text/csv': 'csv',
  'application/pdf': 'pdf', 'text/rtf': 'rtf', 'application/rtf': 'rtf',
}

/**
 * The last segment of a media link: Intercom names an attachment after it, and shows its type by
 * the extension, so a picture is "picture-1.jpg", not a token. A stored name keeps its own extension.
 */
export function mediaFileName(stem: string, contentType: string | null | undefined): string {
  const safe = stem.replace(/[^\w.-]/g, '_').replace(/^[._]+/, '').slice(0, 80) || 'file'
  if (/\.[a-z0-9]{2,5}$/i.test(safe)) return safe
  const extension = EXTENSIONS[(contentType ?? '').toLowerCase().split(';')[0]!.trim()] ?? 'bin'
  return `${safe}.${extension}`
}

/** Twilio takes files up to 5 MB in an MMS; a larger one could not be sent anyway. */
export const MAX_HELD_BYTES = 5 * 1024 * 1024

/**
 * The media types Twilio accepts in an MMS: the only ones served from our domain. Pictures are
 * shown inline; everything else is a download, never a page.
 */
export const MMS_TYPES = new Set([
  'image/jpeg', 'image/jpg', 'image/gif', 'image/png', 'image/bmp', 'image/webp', 'image/tiff',
  'audio/basic', 'audio/l24', 'audio/mp4', 'audio/mpeg', 'audio/ogg', 'audio/vorbis', 'audio/vnd.rn-realaudio', 'audio/vnd.wave', 'audio/3gpp', 'audio/3gpp2', 'audio/ac3', 'audio/webm', 'audio/amr-nb', 'audio/amr', 'audio/wav', 'audio/x-wav',
  'video/mpeg', 'video/mp4', 'video/quicktime', 'video/webm', 'video/3gpp', 'video/3gpp2', 'video/3gpp-tt', 'video/h261', 'video/h263', 'video/h263-1998', 'video/h263-2000', 'video/h264',
  'text/vcard', 'text/x-vcard', 'text/directory', 'text/calendar', 'text/rtf', 'text/csv', 'text/plain',
  'application/pdf', 'application/vcard', 'application/rtf', 'application/msword', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
])
export const INLINE_TYPES = /^image\/(jpeg|jpg|png|gif|webp|bmp)$/

/** Headers for a file served from our domain: its type, never sniffed, no scripts, a download unless a picture. */
export function fileHeaders(contentType: string, name: string): Record<string, string> {
  const safeName = name.replace(/[^\w.-]/g, '_').slice(0, 100) || 'file'
  return {
    'content-type': contentType,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'content-disposition': `${INLINE_TYPES.test(contentType) ? 'inline' : 'attachment'}; filename="${safeName}"`,
    'cache-control': 'private, max-age=3600',
  }
}

/**
 * Whether a link is one of Intercom's upload URLs (teammates' pictures and files), which expire
 * about half an hour after the webhook. The Intercom API's own origin counts too (a proxy, the tests'
 * stand-in). Other links (a picture on the team's own site) do not expire and go to Twilio as they are.
 */
export function isIntercomUpload(url: string, config: Pick<Config, 'intercom'>): boolean {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return false
  }
  if (parsed.origin === new URL(config.intercom.apiBaseUrl).origin) return true
  if (parsed.protocol !== 'https:') return false
  return /(^|\.)(intercomcdn\.com|intercomcdn\.eu|intercomusercontent\.com|intercom-attachments(-\d+)?\.com)$/.test(parsed.hostname)
}

/** How long an Intercom upload link works after the webhook that carried it, when the link does not say. */
export const UPLOAD_LINK_LIFETIME_MS = 30 * 60_000

/**
 * Until when an Intercom upload link works: its own `expires` (Unix seconds, as
 * downloads.intercomcdn.com links carry it, signed), else about half an hour after `receivedAt`.
 */
export function uploadLinkExpiresAt(url: string, receivedAt: number): number {
  let expires: string | null = null
  try {
    expires = new URL(url).searchParams.get('expires')
  } catch {
    // not a URL: the default lifetime
  }
  const seconds = expires && /^\d{9,12}$/.test(expires) ? Number(expires) : null
  return seconds !== null ? seconds * 1000 : receivedAt + UPLOAD_LINK_LIFETIME_MS
}

/** Teammates' uploads: Intercom's upload hosts (isIntercomUpload) on every hop. */
export function intercomUploadPolicy(config: Pick<Config, 'intercom'>): FetchPolicy {
  return { allowed: (url) => isIntercomUpload(url.href, config), trustedOrigin: new URL(config.intercom.apiBaseUrl).origin }
}

/** MMS files: Twilio's API host, whose media links redirect to its storage (https, public addresses). */
export function twilioMediaPolicy(config: Pick<Config, 'twilio'>): FetchPolicy {
  return { allowed: (url) => url.protocol === 'https:', trustedOrigin: new URL(config.twilio.apiBaseUrl ?? 'https://api.twilio.com').origin }
}

export function heldMediaToken(config: Pick<Config, 'twilio'>, heldId: number, expiresAt: number): string {
  const payload = `h${heldId}.${Math.floor(expiresAt / 1000)}`
  return `${payload}.${sign(config, payload)}`
}

export function verifyHeldMediaToken(config: Pick<Config, 'twilio'>, token: string, now: number): number | null {
  const m = /^h(\d{1,15})\.(\d{1,12})\.([\w-]{32})$/.exec(token)
  if (!m || !signedAndCurrent(config, `h${m[1]}.${m[2]}`, m[3]!, m[2]!, now)) return null
  return Number(m[1])
}

/** The public link Twilio fetches a held file from; it works as long as the copy is kept. */
export function heldMediaUrl(config: Pick<Config, 'twilio' | 'publicUrl'>, held: { id: number; created_at: number; name?: string | null; content_type?: string | null }): string {
  return `${config.publicUrl}/media/${heldMediaToken(config, held.id, held.created_at + MEDIA_TTL_MS)}/${mediaFileName(held.name ?? 'file', held.content_type)}`
}

/** A failed download says whether trying again may succeed (no answer, a timeout, a 5xx, a 429). */
export type Fetched = { ok: true; contentType: string; bytes: Uint8Array } | { ok: false; reason: string; retryable?: boolean }

/**
 * Where a download may go. Every hop (the link and each redirect) must pass `allowed` and resolve to
 * public addresses only, except on `trustedOrigin`: the configured API origin, which a deployment
 * may put behind a proxy on a private address (and the tests' stand-ins run on loopback).
 */
export interface FetchPolicy {
  allowed: (url: URL) => boolean
  trustedOrigin: string
}

/** Redirects followed at most: a CDN hop or two is normal; more is a loop or a detour. */
export const MAX_REDIRECTS = 3

// Addresses a download must never reach: this machine, the private networks around it, the cloud's
// metadata service (link-local), carrier-grade NAT, multicast, reserved and unspecified ranges.
// IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) match the IPv4 rules.
const NOT_PUBLIC = new BlockList()
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4')
}
for (const [net, prefix] of [['::', 128], ['::1', 128], ['64:ff9b::', 96], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv6')
}

/** Whether an IP address is on the public internet (see NOT_PUBLIC). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address)
  return family !== 0 && !NOT_PUBLIC.check(address, family === 6 ? 'ipv6' : 'ipv4')
}

/** Why a hop may not be fetched, or null. Every address the name resolves to must be public. */
async function hopRefusal(url: URL, policy: FetchPolicy, from: string): Promise<string | null> {
  if (url.origin === policy.trustedOrigin) return null
  if (!policy.allowed(url)) return `its link led to ${url.host}, which is not ${from}'s`
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
 * policy first. Headers (credentials) go to the first origin only.
 * The check and the connection resolve the name separately: global fetch takes no lookup of ours.
 */
async function fetchChecked(url: string, from: string, policy: FetchPolicy, options: { headers?: Record<string, string>; timeoutMs?: number }): Promise<Response | { refused: string }> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? 15_000)
  let current = new URL(url)
  const origin = current.origin
  for (let hop = 0; ; hop++) {
    const refusal = await hopRefusal(current, policy, from)
    if (refusal) return { refused: refusal }
    const res = await fetch(current, { headers: current.origin === origin ? (options.headers ?? {}) : {}, signal, redirect: 'manual' })
    const location = res.headers.get('location')
    if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res
    await res.body?.cancel()
    if (hop >= MAX_REDIRECTS) return { refused: `${from} redirected it more than ${MAX_REDIRECTS} times` }
    current = new URL(location, current)
  }
}

/** A download under way: its type, and its bytes as a stream that fails past `MAX_HELD_BYTES`. */
export type Opened = { ok: true; contentType: string; size: number | null; body: Readable } | { ok: false; reason: string; status?: number; retryable?: boolean }

/** Answers after which the same link may work a moment later: the host's passing trouble, not a refusal. */
const PASSING = (status: number) => status >= 500 || status === 429 || status === 408

/**
 * Opens one file from `from` ("Intercom", "Twilio": said in the reasons) where the policy allows.
 * Its bytes come as they are read, with backpressure: a reader that stops reading holds a socket's
 * buffer, not the file. A declared size over `MAX_HELD_BYTES` is refused before anything is read,
 * and the stream fails as soon as more arrives than that.
 */
export async function openFile(url: string, from: string, policy: FetchPolicy, options: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Opened> {
  let res: Response | { refused: string }
  try {
    res = await fetchChecked(url, from, policy, options)
  } catch (err) {
    return { ok: false, retryable: true, reason: `it could not be downloaded from ${from} (${(err as Error).name === 'TimeoutError' ? 'timed out' : 'no answer'})` }
  }
  if ('refused' in res) return { ok: false, reason: `it was not downloaded: ${res.refused}` }
  if (!res.ok || !res.body) {
    await res.body?.cancel()
    return { ok: false, status: res.status, retryable: PASSING(res.status), reason: res.status === 403 || res.status === 404 || res.status === 410 ? `${from}'s link to it had expired` : `${from} answered ${res.status} when it was downloaded` }
  }
  const declared = res.headers.get('content-length')
  if (Number(declared) > MAX_HELD_BYTES) {
    await res.body.cancel()
    return { ok: false, reason: TOO_LARGE }
  }
  let seen = 0
  const capped = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.byteLength
      done(seen > MAX_HELD_BYTES ? new FileTooLarge() : null, chunk)
    },
  })
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>).on('error', (err) => capped.destroy(err))
  const contentType = (res.headers.get('content-type') ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase() || 'application/octet-stream'
  // A compressed answer is decoded as it is read: its declared length is not the file's.
  const size = declared === null || res.headers.has('content-encoding') ? null : Number(declared)
  return { ok: true, contentType, size, body: body.pipe(capped) }
}

const TOO_LARGE = `it is larger than ${MAX_HELD_BYTES / 1024 / 1024} MB, the most a text can carry`

class FileTooLarge extends Error {
  constructor() {
    super(TOO_LARGE)
    this.name = 'FileTooLarge'
  }
}

/** Downloads one file whole (to keep a copy): `openFile`, read to the end within `MAX_HELD_BYTES`. */
export async function fetchFile(
  url: string,
  from: string,
  policy: FetchPolicy,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Fetched & { status?: number }> {
  const opened = await openFile(url, from, policy, options)
  if (!opened.ok) return opened
  const chunks: Buffer[] = []
  try {
    for await (const chunk of opened.body as AsyncIterable<Buffer>) chunks.push(chunk)
  } catch (err) {
    opened.body.destroy()
    return err instanceof FileTooLarge ? { ok: false, reason: TOO_LARGE } : { ok: false, retryable: true, reason: `it could not be downloaded from ${from} (the download broke off)` }
  }
  return { ok: true, contentType: opened.contentType, bytes: Buffer.concat(chunks) }
}
