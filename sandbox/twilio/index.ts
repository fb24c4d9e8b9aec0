import { createHmac, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import { postWebhook, through, type Delivery, type Fault, type RecordedRequest } from '../http.js'
import type { MessagingCountry } from './pricing.js'
import { twilioRoutes } from './routes.js'
import {
  ERRORS,
  rfc2822,
  TwilioState,
  type Keyword,
  type TwilioMessage,
  type TwilioPhoneNumber,
  type TwilioSaved,
  type TwilioService,
} from './state.js'

// The Twilio stand-in: what a test can do with it, and what Twilio does on its own, posting signed
// webhooks (a customer's text, status callbacks). The model is in state.ts, the REST API in routes.ts.

export type { TwilioMessage, TwilioSaved } from './state.js'

export interface TwilioStandIn {
  url: string
  accountSid: string
  authToken: string
  messages: TwilioMessage[]
  requests: RecordedRequest[]
  phoneNumbers: TwilioPhoneNumber[]
  services: Record<string, TwilioService>
  /** Queues faults for the next matching requests. */
  failNext(fault: Fault): void
  /** Creates to this number fail with Twilio's error for `code` (e.g. 21610 opted out). */
  rejectRecipient(to: string, code: number, status?: number): void
  /** A text the customer sent, in Twilio's log (for catch-up tests); media is served behind auth. */
  addInboundMessage(m: {
    from: string
    to: string
    body: string
    media?: Array<{ contentType: string; data: Buffer }>
    at?: number
  }): TwilioMessage
  addPhoneNumber(e164: string): void
  /** A number in a Messaging Service's sender pool: sends through it without From go out from the pool's first. */
  addServiceNumber(serviceSid: string, e164: string): void
  /** The URL of a media item, as Twilio puts it in a webhook's MediaUrl{N}. */
  mediaUrl(message: TwilioMessage, index: number): string
  /**
   * A customer texts one of our numbers: the text joins the log and Twilio's signed webhook is posted
   * to the number's SMS URL (or its Messaging Service's), as set by `sms-bridge setup`. No URL, no post.
   * `via`: the origin that URL's load balancer picked (one of several machines); signed as configured.
   */
  receiveText(m: {
    from: string
    to: string
    body: string
    media?: Array<{ contentType: string; data: Buffer }>
    via?: string
  }): Promise<{ message: TwilioMessage; delivery: Delivery | null }>
  /**
   * What a Messaging Service with an RCS sender does when RCS cannot deliver a text: the same words
   * again as a new SMS message (its own MessageSid) from one of the service's numbers, `from`.
   * Returns the new message; the test posts the callbacks of both, in the order it wants.
   */
  fallBackToSms(sid: string, from: string): TwilioMessage
  /** Texts to this number are accepted, then end `undelivered` (or `failed`) with this error code; null: delivered again. */
  failDelivery(to: string, failure: { code: number; status?: 'undelivered' | 'failed' } | null): void
  /** Webhooks posted (inbound texts, status callbacks), oldest first. */
  deliveries: Delivery[]
  /** The Pricing API's answer for a country (see pricing.ts messagingCountry); null: Twilio has none (404). */
  setMessagingPrices(iso: string, country: MessagingCountry | null): void
  /** Everything needed to start again where this one stands (`saved` option): credentials, log, numbers. */
  save(): TwilioSaved
  reset(): void
  close(): Promise<void>
}

export interface TwilioStandInOptions {
  accountSid?: string
  authToken?: string
  /** Start from a saved state (its credentials win over accountSid and authToken). */
  saved?: TwilioSaved
  /** Listen on this port (default: any free one). Media URLs name it, so a restart may want the same. */
  port?: number
  /**
   * Post signed status callbacks to each text's StatusCallback, as Twilio does: queued, sent, then
   * delivered (or the failure set with `failDelivery`), `stepMs` apart (default 500). Off by default:
   * tests post their own callbacks.
   */
  statusCallbacks?: boolean | { stepMs?: number }
  /**
   * Twilio's default opt-out handling on long codes: STOP (and its synonyms) is answered with Twilio's
   * confirmation and later texts to that number are refused with 21610 until START. Off by default.
   */
  optOutKeywords?: boolean
  /** Advanced Opt-Out's custom keywords of a Messaging Service, e.g. { ARRET: 'STOP' } (with optOutKeywords). */
  customKeywords?: Record<string, Keyword>
}

/** A loopback server that behaves like Twilio's 2010-04-01 REST API for the calls the bridge makes. */
export async function startTwilioStandIn(opts: TwilioStandInOptions = {}): Promise<TwilioStandIn> {
  const state = new TwilioState(opts)
  const { accountSid, authToken } = state
  const stepMs = typeof opts.statusCallbacks === 'object' ? (opts.statusCallbacks.stepMs ?? 500) : 500

  /** Moves an accepted text along as a carrier would, posting each status to its StatusCallback. */
  function progress(message: TwilioMessage) {
    const failure = state.failures.get(message.to)
    const steps: Array<{ status: string; code?: number }> = [
      ...(message.status === 'accepted' ? [{ status: 'queued' }] : []),
      { status: 'sent' },
      failure ? { status: failure.status, code: failure.code } : { status: 'delivered' },
    ]
    const next = async (first: boolean): Promise<void> => {
      const step = first ? { status: message.status } : steps.shift()
      if (!step) return
      const now = Date.now()
      message.status = step.status
      message.date_updated = rfc2822(now)
      if (step.status === 'sent') message.date_sent = rfc2822(now)
      if ('code' in step && step.code) {
        message.error_code = step.code
        message.error_message = ERRORS[step.code] ?? null
      }
      if (message.status_callback) {
        const params: Record<string, string> = {
          AccountSid: accountSid,
          ApiVersion: '2010-04-01',
          From: message.from ?? '',
          MessageSid: message.sid,
          MessageStatus: step.status,
          SmsSid: message.sid,
          SmsStatus: step.status,
          To: message.to,
          ...(message.messaging_service_sid ? { MessagingServiceSid: message.messaging_service_sid } : {}),
          ...(message.error_code ? { ErrorCode: String(message.error_code) } : {}),
        }
        await postWebhook(
          state.deliveries,
          `status: ${step.status}`,
          message.status_callback,
          twilioHeaders(message.status_callback, params),
          new URLSearchParams(params).toString(),
        )
      }
      if (steps.length) state.later(stepMs, () => next(false))
    }
    state.later(Math.min(stepMs, 50), () => next(true))
  }

  /** The headers Twilio sends with a webhook: the signature over the URL and every parameter. */
  function twilioHeaders(url: string, params: Record<string, string>): Record<string, string> {
    return {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'user-agent': 'TwilioProxy/1.1',
      'i-twilio-idempotency-token': randomBytes(16).toString('hex'),
      'x-twilio-signature': signTwilio(authToken, url, params),
    }
  }

  const handle = twilioRoutes(state, {
    accepted(message) {
      if (opts.statusCallbacks) progress(message)
    },
  })
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ code: 20500, message: String(err), status: 500 }))
    })
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const standIn: TwilioStandIn = {
    url: base,
    accountSid,
    authToken,
    get messages() {
      return state.messages
    },
    get requests() {
      return state.requests
    },
    get phoneNumbers() {
      return state.phoneNumbers
    },
    get services() {
      return state.services
    },
    get deliveries() {
      return state.deliveries
    },
    failNext: (fault) => state.faults.add(fault),
    rejectRecipient: (to, code, status = 400) => void state.rejected.set(to, { code, status }),
    addInboundMessage: (m) => state.addInboundMessage(m),
    addPhoneNumber: (e164) => state.addPhoneNumber(e164),
    addServiceNumber: (serviceSid, e164) => state.addServiceNumber(serviceSid, e164),
    mediaUrl: (message, index) => `${base}/2010-04-01/Accounts/${accountSid}/Messages/${message.sid}/Media/${message.media[index]!.sid}`,
    async receiveText({ from, to, body, media = [], via }) {
      const message = standIn.addInboundMessage({ from, to, body, media })
      const whatsapp = from.startsWith('whatsapp:')
      // Opt-out keywords are an SMS matter: Twilio does not handle them on WhatsApp.
      const optOut = opts.optOutKeywords && !whatsapp ? state.keywordReply(from, to, body) : null
      const number = state.phoneNumbers.find((n) => n.phone_number === to)
      const service = Object.values(state.services).find((s) => s.inbound_request_url && !s.use_inbound_webhook_on_number)
      const url = service?.inbound_request_url ?? number?.sms_url
      if (!url) return { message, delivery: null }
      const country = (n: string) => parsePhoneNumberFromString(n)?.country ?? ''
      const params: Record<string, string> = {
        ToCountry: country(to),
        ToState: '',
        SmsMessageSid: message.sid,
        NumMedia: message.num_media,
        ToCity: '',
        FromZip: '',
        SmsSid: message.sid,
        FromState: '',
        SmsStatus: 'received',
        FromCity: '',
        Body: body,
        FromCountry: country(from),
        To: to,
        ToZip: '',
        NumSegments: message.num_segments,
        MessageSid: message.sid,
        AccountSid: accountSid,
        From: from,
        ApiVersion: '2010-04-01',
        ...(optOut ? { OptOutType: optOut } : {}),
        // What a WhatsApp inbound adds (as in captured requests): the profile name and the sender's WhatsApp id.
        ...(whatsapp
          ? {
              ProfileName: 'WhatsApp customer',
              WaId: from.replace(/\D/g, ''),
              MessageType: media.length ? 'image' : 'text',
              ReferralNumMedia: '0',
              ChannelMetadata: JSON.stringify({
                type: 'whatsapp',
                data: { context: { ProfileName: 'WhatsApp customer', WaId: from.replace(/\D/g, '') } },
              }),
            }
          : {}),
        ...(service?.sid ? { MessagingServiceSid: service.sid } : {}),
      }
      message.media.forEach((item, i) => {
        params[`MediaContentType${i}`] = item.contentType
        params[`MediaUrl${i}`] = standIn.mediaUrl(message, i)
      })
      const delivery = await postWebhook(
        state.deliveries,
        'sms',
        through(url, via),
        twilioHeaders(url, params),
        new URLSearchParams(params).toString(),
      )
      return { message, delivery }
    },
    fallBackToSms(sid, from) {
      const first = state.messages.find((m) => m.sid === sid)
      if (!first) throw new Error(`no message ${sid}`)
      first.status = 'failed'
      return state.addOutboundMessage({
        to: first.to,
        from,
        messagingServiceSid: first.messaging_service_sid,
        body: first.body,
        mediaUrls: first.media.map((m) => m.url ?? ''),
        statusCallback: first.status_callback,
      })
    },
    save: () => state.save(),
    failDelivery: (to, failure) => state.failDelivery(to, failure),
    setMessagingPrices: (iso, country) => void (country ? state.prices.set(iso, country) : state.prices.delete(iso)),
    reset: () => state.reset(),
    close: () =>
      new Promise<void>((resolve) => {
        state.clearTimers()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return standIn
}

/** X-Twilio-Signature as Twilio computes it: base64 HMAC-SHA1 of the URL and the sorted parameters. */
export function signTwilio(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url)
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf-8')).digest('base64')
}
