import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../../shared/errors.js'
import { signedJson } from '../../shared/http.js'
import {
  TWILIO_SIGNATURE_SETTINGS_HEADER,
  connectorToken,
  safeEqual,
  verifyCanvasSignature,
  verifyIntercomWebhook,
  verifyTwilioSignature,
} from '../../shared/signatures.js'
import type { Config } from '../config.js'
import type { Refusal, RefusalReason, Surface } from '../refusals.js'

// Every signed surface is checked here, one way: the header's presence before the body is read
// (onRequest), the signature before the body is validated (preValidation, or the JSON parser over
// the raw bytes), every refusal noted in the refusal notebook (counted, logged once a minute, shown by
// `doctor`), and answered with the surface's error. A route spreads the hooks into its options.

/** The hooks a signed route takes: `{ ...signedBy(app, 'series'), handler }`. */
export interface SignedHooks {
  onRequest: (req: FastifyRequest) => Promise<void>
  preValidation: (req: FastifyRequest) => Promise<void>
}

/** How a surface is signed, and how it answers a request that is not. */
interface Scheme {
  /** The header as refusals name it; looked up in lower case. */
  header: string
  error: { code: string; message: string; status: number }
  check:
    | { kind: 'raw_body'; verify: (config: Config, raw: Buffer, signature: string) => boolean }
    | { kind: 'twilio_form' }
    | { kind: 'secret'; secret: (config: Config) => string | undefined }
}

const SCHEMES: Record<Surface, Scheme> = {
  // X-Twilio-Signature over PUBLIC_URL + path and the form's parameters: the auth token's
  // HMAC-SHA1, or a shared key's HMAC-SHA256 (X-Twilio-Webhooks-Signature-Settings); our account only.
  twilio: {
    header: 'X-Twilio-Signature',
    error: { code: 'bad_signature', message: 'The X-Twilio-Signature header is missing or does not match.', status: 403 },
    check: { kind: 'twilio_form' },
  },
  // X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>, keyed with the app's client secret.
  intercom_webhooks: {
    header: 'X-Hub-Signature',
    error: { code: 'bad_signature', message: 'The X-Hub-Signature header is missing or does not match.', status: 401 },
    check: { kind: 'raw_body', verify: (config, raw, signature) => verifyIntercomWebhook(config.intercom.clientSecret, raw, signature) },
  },
  // X-Body-Signature: <hex HMAC-SHA256 of the raw body>, keyed with the app's client secret.
  canvas: {
    header: 'X-Body-Signature',
    error: { code: 'bad_signature', message: 'The X-Body-Signature header is missing or does not match.', status: 401 },
    check: { kind: 'raw_body', verify: (config, raw, signature) => verifyCanvasSignature(config.intercom.clientSecret, raw, signature) },
  },
  // Series webhooks are not signed: the team sets a shared secret header in the webhook block.
  series: {
    header: 'X-Bridge-Secret',
    error: {
      code: 'bad_secret',
      message: 'The X-Bridge-Secret header is missing or wrong (or SERIES_WEBHOOK_SECRET is not set).',
      status: 401,
    },
    check: { kind: 'secret', secret: (config) => config.seriesSecret },
  },
  // The Send SMS data connectors: the bearer token `sms-bridge setup` put in each connector's headers.
  workflows_connector: connectorScheme('workflows'),
  fin_connector: connectorScheme('fin'),
}

function connectorScheme(connector: 'workflows' | 'fin'): Scheme {
  return {
    header: 'Authorization',
    error: {
      code: 'bad_token',
      message: 'The Authorization header is missing or wrong: run sms-bridge setup to update the data connector.',
      status: 401,
    },
    check: { kind: 'secret', secret: (config) => `Bearer ${connectorToken(config.intercom.clientSecret, connector)}` },
  }
}

/**
 * The hooks that refuse every request `surface` did not sign. Raw-body surfaces (Intercom webhooks,
 * Canvas) take their JSON bodies through a parser, in the calling plugin's scope, that checks the
 * signature over the raw bytes and keeps them (`req.rawBody`); `bodyLimit` is that parser's limit.
 */
export function signedBy(app: FastifyInstance, surface: Surface, options: { bodyLimit?: number } = {}): SignedHooks {
  const scheme = SCHEMES[surface]
  const refuse = (req: FastifyRequest, reason: RefusalReason, more: Partial<Refusal> = {}): never => {
    req.server.refusals.note(req, { surface, reason, header: scheme.header, ...more })
    const { code, message, status } = reason === 'wrong_account' ? WRONG_ACCOUNT : scheme.error
    throw new AppError(code, message, status)
  }
  const check = scheme.check
  if (check.kind === 'raw_body') {
    const bodyLimit = options.bodyLimit ?? app.initialConfig.bodyLimit ?? 1024 * 1024
    const verify = (raw: Buffer, signature: string) => check.verify(app.config, raw, signature)
    return signedJson(app, { header: scheme.header.toLowerCase(), bodyLimit, verify, refuse })
  }
  if (check.kind === 'secret')
    return { onRequest: (req) => checkSecret(req, scheme, check.secret(req.server.config), refuse), preValidation: async () => {} }
  return {
    onRequest: async (req) => {
      if (headerOf(req, scheme) === '') refuse(req, 'missing_header', { signedUrl: signedUrl(req) })
    },
    preValidation: async (req) => checkTwilioForm(req, refuse),
  }
}

const WRONG_ACCOUNT = { code: 'wrong_account', message: 'This request is for another Twilio account.', status: 403 }

type Refuse = (req: FastifyRequest, reason: RefusalReason, more?: Partial<Refusal>) => never

function headerOf(req: FastifyRequest, scheme: Scheme): string {
  const value = req.headers[scheme.header.toLowerCase()]
  return typeof value === 'string' ? value : ''
}

/** The URL Twilio signed: the public one it called, not the one this process sees behind a proxy. */
const signedUrl = (req: FastifyRequest) => `${req.server.config.publicUrl}${req.url}`

/** Series: the shared secret, compared in constant time; refused when none is configured. */
async function checkSecret(req: FastifyRequest, scheme: Scheme, secret: string | undefined, refuse: Refuse): Promise<void> {
  const given = headerOf(req, scheme)
  if (secret && safeEqual(given, secret)) return
  refuse(req, !secret ? 'not_configured' : given !== '' ? 'mismatch' : 'missing_header')
}

/** Twilio: the form's signature (auth token or shared key), then the account it is for. */
async function checkTwilioForm(req: FastifyRequest, refuse: Refuse): Promise<void> {
  const { config } = req.server
  const params = (req.body ?? {}) as Record<string, unknown>
  const url = signedUrl(req)
  const signature = headerOf(req, SCHEMES.twilio)
  const given = signature !== '' ? signature : undefined
  const settings = req.headers[TWILIO_SIGNATURE_SETTINGS_HEADER]
  const checked = verifyTwilioSignature(config.twilio.webhookSecrets, {
    signature: given,
    url,
    params,
    settings: typeof settings === 'string' ? settings : undefined,
  })
  if (typeof req.body !== 'object' || !checked.ok)
    refuse(req, given ? 'mismatch' : 'missing_header', { signedUrl: url, scheme: checked.scheme })
  if (params.AccountSid !== config.twilio.accountSid) refuse(req, 'wrong_account', { signedUrl: url })
}
