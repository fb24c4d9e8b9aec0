import type { FastifyRequest } from 'fastify'
import { maskUrl } from '../shared/log.js'
import type { Config } from './config.js'
import type { Metrics } from './metrics.js'

/** The inbound surfaces that check a signature (or, for Series, a shared secret). */
export type Surface = 'twilio' | 'intercom_webhooks' | 'canvas' | 'series' | 'workflows_connector' | 'fin_connector'

export const SURFACE_NAMES: Record<Surface, string> = {
  twilio: 'Twilio webhooks (texts and delivery statuses)',
  intercom_webhooks: 'Intercom webhooks',
  canvas: 'Canvas Kit (sidebar and Messenger apps)',
  series: 'Intercom Series webhook',
  workflows_connector: 'Send SMS data connector (Workflows)',
  fin_connector: 'Send SMS data connector (Fin)',
}

export type RefusalReason = 'missing_header' | 'mismatch' | 'wrong_account' | 'not_configured'

export interface Refusal {
  surface: Surface
  reason: RefusalReason
  /** The header that carries the signature or secret. */
  header: string
  /** What the signature was computed over, where it is more than the body (Twilio: the URL). */
  signedUrl?: string
  /** Twilio: which secret the request says signed it (the auth token, or a shared key). */
  scheme?: 'auth_token' | 'shared_key'
}

/** At most one warning (and one write for `doctor`) per surface in this long. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000

/** Header values an outsider wrote: only ever logged shortened and printable. */
const printable = (value: unknown) => (typeof value === 'string' ? value.replace(/[^\x20-\x7e]/g, '?').slice(0, 100) : undefined)

/**
 * The most likely reason for a refusal, in the words of the setting to check. A missing header is
 * a caller that does not sign (a scanner, a probe, a hand-made request); a mismatch is nearly
 * always configuration. Only configured values are named: a refused request is unsigned, so nothing
 * it says (its Host, its URL) may become advice that `doctor` prints to an operator.
 */
export function likelyCause(config: Config, r: Refusal): string {
  if (r.reason === 'missing_header')
    return `no ${r.header} header: the request did not come from ${r.surface === 'series' ? 'the Series webhook block (add the header there)' : r.surface === 'twilio' ? 'Twilio' : 'Intercom'}`
  if (r.reason === 'not_configured') return 'SERIES_WEBHOOK_SECRET is not set, so every Series request is refused'
  if (r.reason === 'wrong_account')
    return "signed, but for another Twilio account: the number's webhook belongs to a different account or subaccount than TWILIO_ACCOUNT_SID"
  switch (r.surface) {
    case 'twilio':
      if (r.scheme === 'shared_key') {
        return config.twilio.webhookSecrets.sharedKeys.length === 0
          ? 'Twilio signs these webhooks with a shared key (a Webhooks API rule; X-Twilio-Webhooks-Signature-Settings), but TWILIO_WEBHOOK_SHARED_KEYS is not set'
          : `signed with a shared key that none of TWILIO_WEBHOOK_SHARED_KEYS matches (a new key not added yet, or an old one removed too soon), or the webhook URL is not under PUBLIC_URL (${config.publicUrl})`
      }
      return `the webhook URL set on the number is not under PUBLIC_URL (${config.publicUrl}; sms-bridge setup prints the URLs to set), or TWILIO_AUTH_TOKEN is not the auth token of the account that owns the number`
    case 'intercom_webhooks':
    case 'canvas':
      return 'INTERCOM_CLIENT_SECRET is not the client secret of the app that sends these requests (Developer Hub > your app > Basic information)'
    case 'series':
      return 'the X-Bridge-Secret header in the Series webhook block differs from SERIES_WEBHOOK_SECRET'
    case 'workflows_connector':
    case 'fin_connector':
      return "the data connector's Authorization header is not the one sms-bridge setup wrote (INTERCOM_CLIENT_SECRET changed since, or the header was edited in Intercom): run sms-bridge setup again"
  }
}

interface SurfaceState {
  count: number
  sinceLogged: number
  lastLoggedAt: number
  last: number
  reason: RefusalReason
  cause: string
}

/** What `GET /admin/refusals` answers and `sms-bridge doctor` reports, per surface. */
export interface SurfaceRefusals {
  surface: Surface
  count: number
  last: number
  reason: RefusalReason
  cause: string
}

/**
 * Requests refused for their signature are the first sign of the commonest setup mistake (PUBLIC_URL
 * not the URL Twilio calls: every text refused 403). Each refusal is counted; a warning says what was
 * checked and the likely cause, at most once a minute per surface (so a scanner cannot fill the log),
 * and `sms-bridge doctor` reads the counts from the running service (`GET /admin/refusals`). Nothing
 * is written to the database: a refused request changes nothing. Never the secret, never the signature.
 */
export class RefusalNotebook {
  readonly #states = new Map<Surface, SurfaceState>()
  /** When counting began (the service's start). */
  readonly startedAt: number

  constructor(
    private readonly deps: { config: Config; metrics: Metrics },
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now()
  }

  note(req: FastifyRequest, refusal: Refusal): void {
    const { surface, reason } = refusal
    this.deps.metrics.signatureRefusals.inc({ surface, reason })
    const now = this.now()
    const cause = likelyCause(this.deps.config, refusal)
    const state = this.#states.get(surface) ?? { count: 0, sinceLogged: 0, lastLoggedAt: -Infinity, last: now, reason, cause }
    this.#states.set(surface, state)
    state.count++
    state.sinceLogged++
    Object.assign(state, { last: now, reason, cause })
    if (now - state.lastLoggedAt < REFUSAL_LOG_INTERVAL_MS) return
    req.log.warn(
      {
        surface,
        reason,
        header: refusal.header,
        // The URL Twilio signed, as configured; its query string may hold credentials of the caller's.
        ...(refusal.signedUrl ? { signedUrl: maskUrl(refusal.signedUrl) } : {}),
        ...(refusal.scheme ? { scheme: refusal.scheme === 'shared_key' ? 'shared key (HMAC)' : 'auth token (HMAC-SHA1)' } : {}),
        // What the request claimed, as data for whoever reads the log, never in the advice.
        host: printable(req.headers.host),
        userAgent: printable(req.headers['user-agent']),
        refusedSinceLastWarning: state.sinceLogged,
        refusedSinceStart: state.count,
      },
      `${SURFACE_NAMES[surface]}: request refused, ${reason === 'missing_header' ? `no ${refusal.header} header` : reason === 'mismatch' ? `${refusal.header} does not match${refusal.scheme === 'shared_key' ? ' (signed with a shared key)' : refusal.scheme === 'auth_token' ? ' (signed with the auth token)' : ''}` : reason === 'wrong_account' ? 'another Twilio account' : 'not configured'}; likely cause: ${cause}`,
    )
    state.lastLoggedAt = now
    state.sinceLogged = 0
  }

  /** Refusals per surface since the service started, the latest reason and cause of each. */
  summary(): SurfaceRefusals[] {
    return [...this.#states].map(([surface, s]) => ({ surface, count: s.count, last: s.last, reason: s.reason, cause: s.cause }))
  }
}
