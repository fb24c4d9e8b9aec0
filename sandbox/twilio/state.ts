import { randomBytes } from 'node:crypto'
import { FaultPlan, type Delivery, type RecordedRequest } from '../http.js'
import { defaultMessagingPrices } from './pricing.js'

// The Twilio stand-in's model: the account, its message log, phone numbers and Messaging Services,
// what a test set to go wrong, and the shapes Twilio's API gives them. No HTTP here: routes.ts
// answers the API's requests, index.ts listens and posts Twilio's webhooks.

export interface TwilioMessage {
  sid: string
  account_sid: string
  to: string
  from: string | null
  messaging_service_sid: string | null
  body: string
  status: string
  direction: 'inbound' | 'outbound-api'
  num_media: string
  num_segments: string
  error_code: number | null
  error_message: string | null
  date_created: string
  date_updated: string
  date_sent: string | null
  status_callback: string | null
  /** For a text we sent, `url` is the MediaUrl the picture was fetched from (the handset shows it). */
  media: Array<{ sid: string; contentType: string; data: Buffer; url?: string }>
  /** Milliseconds, for filtering. */
  createdAtMs: number
}

/** One of the account's numbers (IncomingPhoneNumbers), with its SMS webhook. */
export interface TwilioPhoneNumber {
  sid: string
  phone_number: string
  sms_url: string | null
  sms_method: string
  status_callback: string | null
}

/** A Messaging Service, with its inbound webhook. */
export interface TwilioService {
  sid: string
  friendly_name: string
  inbound_request_url: string | null
  inbound_method: string
  use_inbound_webhook_on_number: boolean
  /** Its sender pool (messaging v1 Services/{sid}/PhoneNumbers); a send without From goes out from the first. */
  phone_numbers?: string[]
}

/** A delivery failure set for a number: texts to it are accepted, then end with this status and code. */
export interface DeliveryFailure {
  code: number
  status: 'undelivered' | 'failed'
}

/** A stand-in's state as JSON (media as base64), for the demo's `--data` folder. */
export interface TwilioSaved {
  accountSid: string
  authToken: string
  messages: Array<Omit<TwilioMessage, 'media'> & { media: Array<{ sid: string; contentType: string; data: string; url?: string }> }>
  phoneNumbers: TwilioPhoneNumber[]
  services: Record<string, TwilioService>
  optedOut: string[]
  failures: Array<[string, DeliveryFailure]>
}

export type Keyword = 'STOP' | 'START' | 'HELP'

export const sid = (prefix: string) => `${prefix}${randomBytes(16).toString('hex')}`
export const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000')

export const ERRORS: Record<number, string> = {
  20003: 'Authenticate',
  20404: 'The requested resource was not found',
  30400: 'Parameters are not valid',
  21211: "The 'To' number is not a valid phone number.",
  21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
  21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
  21602: 'Message body is required.',
  21604: "A 'To' phone number is required.",
  21610: 'Attempt to send to unsubscribed recipient',
  21611: "This 'From' number has exceeded the maximum number of queued messages",
  21614: "'To' number is not a valid mobile number",
  30003: 'Unreachable destination handset',
  30004: 'Message blocked',
  30005: 'Unknown destination handset',
  30006: 'Landline or unreachable carrier',
  30007: 'Message filtered',
  30008: 'Unknown error',
  20429: 'Too Many Requests',
  21910: 'Invalid From and To pair. From and To should be of the same channel',
  63016:
    'Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.',
}

/** Segments as Twilio counts them: GSM-7 160/153, UCS-2 70/67 (any character outside GSM-7). */
export function segments(body: string): number {
  const gsm = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/.test(body)
  const units = gsm ? body.length : [...body].reduce((n, ch) => n + (ch.length > 1 ? 2 : 1), 0)
  const [single, multi] = gsm ? [160, 153] : [70, 67]
  return units <= single ? 1 : Math.ceil(units / multi)
}

/** A message as the REST API returns it. */
export function resource(m: TwilioMessage) {
  const { media: _media, createdAtMs: _created, ...rest } = m
  return {
    ...rest,
    api_version: '2010-04-01',
    price: null,
    price_unit: 'USD',
    uri: `/2010-04-01/Accounts/${m.account_sid}/Messages/${m.sid}.json`,
    subresource_uris: {
      media: `/2010-04-01/Accounts/${m.account_sid}/Messages/${m.sid}/Media.json`,
      feedback: `/2010-04-01/Accounts/${m.account_sid}/Messages/${m.sid}/Feedback.json`,
    },
  }
}

const OPT_OUT = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']
const OPT_IN = ['START', 'YES', 'UNSTOP']
const HELP = ['HELP', 'INFO']
// Twilio's default answers (Messaging Service "Advanced Opt-Out" lets an account change them).
const KEYWORD_REPLIES = {
  STOP: 'You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.',
  START:
    'You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
  HELP: 'Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
} as const

export interface TwilioStateOptions {
  accountSid?: string
  authToken?: string
  /** Start from a saved state (its credentials win over accountSid and authToken). */
  saved?: TwilioSaved
  /** Advanced Opt-Out's custom keywords of a Messaging Service, e.g. { ARRET: 'STOP' }. */
  customKeywords?: Record<string, Keyword>
}

/** One Twilio account as the stand-in keeps it. */
export class TwilioState {
  readonly accountSid: string
  readonly authToken: string
  /** Faults queued for the next matching requests. */
  readonly faults = new FaultPlan()
  /** Creates to these numbers fail with this error (rejectRecipient). */
  readonly rejected = new Map<string, { code: number; status: number }>()
  /** Texts to these numbers are accepted, then fail (failDelivery). */
  readonly failures: Map<string, DeliveryFailure>
  /** Pairs (customer, our number or service) that texted STOP, when optOutKeywords is on. */
  readonly optedOut: Set<string>
  /** Status callbacks still to be posted. */
  readonly timers = new Set<NodeJS.Timeout>()
  messages: TwilioMessage[]
  requests: RecordedRequest[] = []
  phoneNumbers: TwilioPhoneNumber[]
  services: Record<string, TwilioService>
  /** Webhooks posted (inbound texts, status callbacks), oldest first. */
  deliveries: Delivery[] = []
  private readonly customKeywords: Record<string, Keyword> | undefined
  /** The Pricing API's messaging countries, by ISO code (setMessagingPrices). */
  prices = defaultMessagingPrices()

  constructor(opts: TwilioStateOptions) {
    const saved = opts.saved
    this.accountSid = saved?.accountSid ?? opts.accountSid ?? `AC${randomBytes(16).toString('hex')}`
    this.authToken = saved?.authToken ?? opts.authToken ?? randomBytes(16).toString('hex')
    this.failures = new Map<string, DeliveryFailure>(saved?.failures)
    this.optedOut = new Set<string>(saved?.optedOut)
    this.messages = (saved?.messages ?? []).map((m) => ({
      ...m,
      media: m.media.map((x) => ({ ...x, data: Buffer.from(x.data, 'base64') })),
    }))
    this.phoneNumbers = saved?.phoneNumbers ?? []
    this.services = saved?.services ?? {}
    this.customKeywords = opts.customKeywords
  }

  /** A text sent through the API (POST Messages.json), once the request passed every check. */
  addOutboundMessage(m: {
    to: string
    from: string | null
    messagingServiceSid: string | null
    body: string
    mediaUrls: string[]
    statusCallback: string | null
  }): TwilioMessage {
    const now = Date.now()
    const media = m.mediaUrls.map((u) => ({ sid: sid('ME'), contentType: 'image/jpeg', data: Buffer.from(u), url: u }))
    const message: TwilioMessage = {
      sid: sid(media.length ? 'MM' : 'SM'),
      account_sid: this.accountSid,
      to: m.to,
      // Through a service without From, Twilio picks a sender from its pool (here: the first).
      from: m.from ?? (m.messagingServiceSid ? (this.services[m.messagingServiceSid]?.phone_numbers?.[0] ?? null) : null),
      messaging_service_sid: m.messagingServiceSid,
      body: m.body,
      status: m.messagingServiceSid ? 'accepted' : 'queued',
      direction: 'outbound-api',
      num_media: String(media.length),
      num_segments: String(segments(m.body)),
      error_code: null,
      error_message: null,
      date_created: rfc2822(now),
      date_updated: rfc2822(now),
      date_sent: null,
      status_callback: m.statusCallback,
      media,
      createdAtMs: now,
    }
    this.messages.push(message)
    return message
  }

  /** A text the customer sent, in the log. */
  addInboundMessage({
    from,
    to,
    body,
    media = [],
    at = Date.now(),
  }: {
    from: string
    to: string
    body: string
    media?: Array<{ contentType: string; data: Buffer }>
    at?: number
  }): TwilioMessage {
    const message: TwilioMessage = {
      sid: sid(media.length ? 'MM' : 'SM'),
      account_sid: this.accountSid,
      to,
      from,
      messaging_service_sid: null,
      body,
      status: 'received',
      direction: 'inbound',
      num_media: String(media.length),
      num_segments: String(segments(body)),
      error_code: null,
      error_message: null,
      date_created: rfc2822(at),
      date_updated: rfc2822(at),
      date_sent: rfc2822(at),
      status_callback: null,
      media: media.map((x) => ({ sid: sid('ME'), ...x })),
      createdAtMs: at,
    }
    this.messages.push(message)
    return message
  }

  addPhoneNumber(e164: string): void {
    this.phoneNumbers.push({ sid: sid('PN'), phone_number: e164, sms_url: null, sms_method: 'POST', status_callback: null })
  }

  /** A number in a Messaging Service's sender pool (the service is made when it does not exist). */
  addServiceNumber(serviceSid: string, e164: string): void {
    const service = (this.services[serviceSid] ??= {
      sid: serviceSid,
      friendly_name: 'Support',
      inbound_request_url: null,
      inbound_method: 'POST',
      use_inbound_webhook_on_number: true,
    })
    ;(service.phone_numbers ??= []).push(e164)
  }

  /** Twilio's own answer to an opt-out keyword, from the number the customer texted: the OptOutType it posts. */
  keywordReply(customer: string, ours: string, body: string): Keyword | null {
    const word = body.trim().toUpperCase()
    // Advanced Opt-Out lets a Messaging Service add its own words (localised ones, say "ARRET").
    const custom = this.customKeywords?.[word]
    const type = custom ?? (OPT_OUT.includes(word) ? 'STOP' : OPT_IN.includes(word) ? 'START' : HELP.includes(word) ? 'HELP' : null)
    if (!type) return null
    if (type === 'STOP') this.optedOut.add(`${customer} ${ours}`)
    if (type === 'START') this.optedOut.delete(`${customer} ${ours}`)
    const reply = KEYWORD_REPLIES[type]
    const now = Date.now()
    this.messages.push({
      sid: sid('SM'),
      account_sid: this.accountSid,
      to: customer,
      from: ours,
      messaging_service_sid: null,
      body: reply,
      status: 'delivered',
      direction: 'outbound-api',
      num_media: '0',
      num_segments: String(segments(reply)),
      error_code: null,
      error_message: null,
      date_created: rfc2822(now),
      date_updated: rfc2822(now),
      date_sent: rfc2822(now),
      status_callback: null,
      media: [],
      createdAtMs: now,
    })
    return type
  }

  failDelivery(to: string, failure: { code: number; status?: 'undelivered' | 'failed' } | null): void {
    if (failure) this.failures.set(to, { code: failure.code, status: failure.status ?? 'undelivered' })
    else this.failures.delete(to)
  }

  /** Runs `fn` in `ms`, unless reset or closed first. */
  later(ms: number, fn: () => Promise<unknown>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void fn()
    }, ms)
    this.timers.add(timer)
  }

  clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  save(): TwilioSaved {
    return {
      accountSid: this.accountSid,
      authToken: this.authToken,
      messages: this.messages.map((m) => ({ ...m, media: m.media.map((x) => ({ ...x, data: x.data.toString('base64') })) })),
      phoneNumbers: this.phoneNumbers,
      services: this.services,
      optedOut: [...this.optedOut],
      failures: [...this.failures],
    }
  }

  /** Forgets the log, requests, deliveries and everything set to go wrong; numbers and services stay. */
  reset(): void {
    this.messages = []
    this.requests = []
    this.deliveries = []
    this.rejected.clear()
    this.failures.clear()
    this.optedOut.clear()
    this.clearTimers()
    this.faults.clear()
    this.prices = defaultMessagingPrices()
  }
}
