import { createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { validateApiRequest } from './openapi.js'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import { FaultPlan, postWebhook, readBody, through, type Delivery, type Fault, type RecordedRequest } from './http.js'

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

export interface TwilioStandIn {
  url: string
  accountSid: string
  authToken: string
  messages: TwilioMessage[]
  requests: RecordedRequest[]
  phoneNumbers: Array<{ sid: string; phone_number: string; sms_url: string | null; sms_method: string; status_callback: string | null }>
  services: Record<string, { sid: string; friendly_name: string; inbound_request_url: string | null; inbound_method: string; use_inbound_webhook_on_number: boolean }>
  /** Queues faults for the next matching requests. */
  failNext(fault: Fault): void
  /** Creates to this number fail with Twilio's error for `code` (e.g. 21610 opted out). */
  rejectRecipient(to: string, code: number, status?: number): void
  /** A text the customer sent, in Twilio's log (for catch-up tests); media is served behind auth. */
  addInboundMessage(m: { from: string; to: string; body: string; media?: Array<{ contentType: string; data: Buffer }>; at?: number }): TwilioMessage
  addPhoneNumber(e164: string): void
  /** The URL of a media item, as Twilio puts it in a webhook's MediaUrl{N}. */
  mediaUrl(message: TwilioMessage, index: number): string
  /**
   * A customer texts one of our numbers: the text joins the log and Twilio's signed webhook is posted
   * to the number's SMS URL (or its Messaging Service's), as set by `sms-bridge setup`. No URL, no post.
   * `via`: the origin that URL's load balancer picked (one of several machines); signed as configured.
   */
  receiveText(m: { from: string; to: string; body: string; media?: Array<{ contentType: string; data: Buffer }>; via?: string }): Promise<{ message: TwilioMessage; delivery: Delivery | null }>
  /** Texts to this number are accepted, then end `undelivered` (or `failed`) with this error code; null: delivered again. */
  failDelivery(to: string, failure: { code: number; status?: 'undelivered' | 'failed' } | null): void
  /** Webhooks posted (inbound texts, status callbacks), oldest first. */
  deliveries: Delivery[]
  /** Everything needed to start again where this one stands (`saved` option): credentials, log, numbers. */
  save(): TwilioSaved
  reset(): void
  close(): Promise<void>
}

const sid = (prefix: string) => `${prefix}${randomBytes(16).toString('hex')}`
const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000')

const ERRORS: Record<number, string> = {
  20003: 'Authenticate',
  20404: 'The requested resource was not found',
  21211: "The 'To' number is not a valid phone number.",
  21408: 'Permission to send an SMS has not been enabled for the region indicated by the \'To\' number',
  21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
  21602: 'Message body is required.',
  21604: "A 'To' phone number is required.",
  21610: 'Attempt to send to unsubscribed recipient',
  21611: 'This \'From\' number has exceeded the maximum number of queued messages',
  21614: "'To' number is not a valid mobile number",
  30003: 'Unreachable destination handset',
  30004: 'Message blocked',
  30005: 'Unknown destination handset',
  30006: 'Landline or unreachable carrier',
  30007: 'Message filtered',
  30008: 'Unknown error',
  20429: 'Too Many Requests',
  21910: 'Invalid From and To pair. From and To should be of the same channel',
  63016: 'Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.',
}

function twilioError(res: ServerResponse, status: number, code: number, message = ERRORS[code] ?? 'Error', headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }))
}

/** Segments as Twilio counts them: GSM-7 160/153, UCS-2 70/67 (any character outside GSM-7). */
function segments(body: string): number {
  const gsm = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/.test(body)
  const units = gsm ? body.length : [...body].reduce((n, ch) => n + (ch.length > 1 ? 2 : 1), 0)
  const [single, multi] = gsm ? [160, 153] : [70, 67]
  return units <= single ? 1 : Math.ceil(units / multi)
}

function resource(m: TwilioMessage) {
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

/** A loopback server that behaves like Twilio's 2010-04-01 REST API for the calls the bridge makes. */
/** A stand-in's state as JSON (media as base64), for the demo's `--data` folder. */
export interface TwilioSaved {
  accountSid: string
  authToken: string
  messages: Array<Omit<TwilioMessage, 'media'> & { media: Array<{ sid: string; contentType: string; data: string; url?: string }> }>
  phoneNumbers: TwilioStandIn['phoneNumbers']
  services: TwilioStandIn['services']
  optedOut: string[]
  failures: Array<[string, { code: number; status: 'undelivered' | 'failed' }]>
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
  customKeywords?: Record<string, 'STOP' | 'START' | 'HELP'>
}

const OPT_OUT = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']
const OPT_IN = ['START', 'YES', 'UNSTOP']
const HELP = ['HELP', 'INFO']
// Twilio's default answers (Messaging Service "Advanced Opt-Out" lets an account change them).
const KEYWORD_REPLIES = {
  STOP: 'You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.',
  START: 'You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
  HELP: 'Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
} as const

/** A loopback server that behaves like Twilio's 2010-04-01 REST API for the calls the bridge makes. */
export async function startTwilioStandIn(opts: TwilioStandInOptions = {}): Promise<TwilioStandIn> {
  const saved = opts.saved
  const accountSid = saved?.accountSid ?? opts.accountSid ?? `AC${randomBytes(16).toString('hex')}`
  const authToken = saved?.authToken ?? opts.authToken ?? randomBytes(16).toString('hex')
  const faults = new FaultPlan()
  const rejected = new Map<string, { code: number; status: number }>()
  const failures = new Map<string, { code: number; status: 'undelivered' | 'failed' }>(saved?.failures)
  // Pairs (customer, our number or service) that texted STOP, when optOutKeywords is on.
  const optedOut = new Set<string>(saved?.optedOut)
  const timers = new Set<NodeJS.Timeout>()
  const stepMs = typeof opts.statusCallbacks === 'object' ? (opts.statusCallbacks.stepMs ?? 500) : 500
  const state: Pick<TwilioStandIn, 'messages' | 'requests' | 'phoneNumbers' | 'services' | 'deliveries'> = {
    messages: (saved?.messages ?? []).map((m) => ({ ...m, media: m.media.map((x) => ({ ...x, data: Buffer.from(x.data, 'base64') })) })),
    requests: [],
    phoneNumbers: saved?.phoneNumbers ?? [],
    services: saved?.services ?? {},
    deliveries: [],
  }
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`
  let base = ''

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const raw = await readBody(req)
    const form = Object.fromEntries(
      [...new URLSearchParams(raw).keys()].map((k) => {
        const all = new URLSearchParams(raw).getAll(k)
        return [k, all.length > 1 || k === 'MediaUrl' ? all : all[0]]
      }),
    )
    const query = Object.fromEntries(url.searchParams)
    const record: RecordedRequest = { method: req.method!, path: url.pathname, query, body: raw ? form : undefined, headers: req.headers, status: 0, at: Date.now() }
    state.requests.push(record)
    const send = (status: number, json: unknown) => {
      record.status = status
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(json))
    }
    const fail = (status: number, code: number, message?: string, headers?: Record<string, string>) => {
      record.status = status
      twilioError(res, status, code, message, headers)
    }

    if (req.headers.authorization !== expectedAuth) return fail(401, 20003)
    const path = url.pathname
    // Messaging Services live on Twilio's messaging domain (v1), which has no description in specs/.
    const service = /^\/v1\/Services\/(MG[0-9a-f]{32})$/.exec(path)
    if (service) {
      const s = (state.services[service[1]!] ??= { sid: service[1]!, friendly_name: 'Support', inbound_request_url: null, inbound_method: 'POST', use_inbound_webhook_on_number: true })
      if (req.method === 'POST') {
        if (typeof form.InboundRequestUrl === 'string') s.inbound_request_url = form.InboundRequestUrl
        if (typeof form.InboundMethod === 'string') s.inbound_method = form.InboundMethod
        if (typeof form.UseInboundWebhookOnNumber === 'string') s.use_inbound_webhook_on_number = form.UseInboundWebhookOnNumber === 'true'
      }
      return send(200, { ...s, account_sid: accountSid })
    }
    const m = /^\/2010-04-01\/Accounts\/([^/]+?)(?:\.json|\/(.*))?$/.exec(path)
    if (!m || m[1] !== accountSid) return fail(404, 20404)

    const fault = faults.take(req.method!, path)
    const applyFault = async (): Promise<boolean> => {
      if (!fault) return false
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs))
      if (fault.gate) await fault.gate
      if (fault.hang) {
        record.status = -1
        return true // never answered; the socket closes with the server
      }
      if (fault.status) {
        record.status = fault.status
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers })
        res.end(JSON.stringify(fault.body ?? { code: fault.status === 429 ? 20429 : 20500, message: 'fault injected', status: fault.status }))
        return true
      }
      return false
    }

    // The media file itself: the URL Twilio puts in MediaUrl{N}, behind the same Basic auth (a binary
    // download, so not in the JSON API reference).
    const file = /^Messages\/([^/]+)\/Media\/([^/.]+)$/.exec(m[2] ?? '')
    if (file && req.method === 'GET') {
      if (await applyFault()) return
      const item = state.messages.find((x) => x.sid === file[1])?.media.find((x) => x.sid === file[2])
      if (!item) return fail(404, 20404)
      record.status = 200
      res.writeHead(200, { 'content-type': item.contentType, 'content-length': item.data.length })
      return res.end(item.data)
    }

    const check = validateApiRequest('twilio', req.method!, path, raw ? form : undefined, query)
    if (!check.ok) return fail(check.status, check.status === 400 ? 21604 : 20404, check.errors.join('; '))

    if (!fault?.afterAccept && (await applyFault())) return

    const rest = m[2] ?? ''
    if (req.method === 'GET' && rest === '') return send(200, { sid: accountSid, friendly_name: 'Test account', status: 'active', type: 'Full' })

    if (rest === 'Messages.json' && req.method === 'POST') {
      const to = form.To as string
      if (!form.From && !form.MessagingServiceSid) return fail(400, 21603)
      if (!form.Body && !form.MediaUrl && !form.ContentSid) return fail(400, 21602)
      // WhatsApp: the same API with whatsapp:+E164 on both ends; mixing channels is refused.
      const whatsapp = to.startsWith('whatsapp:')
      if (!/^\+[1-9]\d{6,14}$/.test(whatsapp ? to.slice(9) : to)) return fail(400, 21211)
      if (form.From && whatsapp !== String(form.From).startsWith('whatsapp:')) return fail(400, 21910)
      const rejection = rejected.get(to)
      if (rejection) return fail(rejection.status, rejection.code)
      if (optedOut.has(`${to} ${form.From ?? form.MessagingServiceSid}`)) return fail(400, 21610)
      const now = Date.now()
      const body = (form.Body as string | undefined) ?? ''
      const media = ((form.MediaUrl as string[] | undefined) ?? []).map((u) => ({ sid: sid('ME'), contentType: 'image/jpeg', data: Buffer.from(u), url: u }))
      const message: TwilioMessage = {
        sid: sid(media.length ? 'MM' : 'SM'),
        account_sid: accountSid,
        to,
        from: (form.From as string | undefined) ?? null,
        messaging_service_sid: (form.MessagingServiceSid as string | undefined) ?? null,
        body,
        status: form.MessagingServiceSid ? 'accepted' : 'queued',
        direction: 'outbound-api',
        num_media: String(media.length),
        num_segments: String(segments(body)),
        error_code: null,
        error_message: null,
        date_created: rfc2822(now),
        date_updated: rfc2822(now),
        date_sent: null,
        status_callback: (form.StatusCallback as string | undefined) ?? null,
        media,
        createdAtMs: now,
      }
      state.messages.push(message)
      if (opts.statusCallbacks) progress(message)
      if (fault?.afterAccept && (await applyFault())) return
      return send(201, resource(message))
    }

    if (rest === 'Messages.json' && req.method === 'GET') {
      const sentAfter = query['DateSent>'] ? Date.parse(query['DateSent>']) : -Infinity
      const sentBefore = query['DateSent<'] ? Date.parse(query['DateSent<']) : Infinity
      const day = query.DateSent ? query.DateSent.slice(0, 10) : null
      const pageSize = Math.min(Number(query.PageSize ?? 50), 1000)
      const page = Number(query.Page ?? 0)
      const list = state.messages
        .filter((x) => (!query.To || x.to === query.To) && (!query.From || x.from === query.From))
        .filter((x) => x.createdAtMs >= sentAfter && x.createdAtMs <= sentBefore)
        .filter((x) => !day || new Date(x.createdAtMs).toISOString().startsWith(day))
        .sort((a, b) => b.createdAtMs - a.createdAtMs)
      const slice = list.slice(page * pageSize, (page + 1) * pageSize)
      const uri = `/2010-04-01/Accounts/${accountSid}/Messages.json`
      const next = (page + 1) * pageSize < list.length ? `${uri}?${new URLSearchParams({ ...query, Page: String(page + 1), PageSize: String(pageSize), PageToken: `PA${page + 1}` })}` : null
      return send(200, {
        messages: slice.map((x) => resource(x)),
        page,
        page_size: pageSize,
        first_page_uri: `${uri}?PageSize=${pageSize}&Page=0`,
        next_page_uri: next,
        previous_page_uri: null,
        start: page * pageSize,
        end: page * pageSize + slice.length - 1,
        uri: `${uri}?${url.searchParams}`,
      })
    }

    const one = /^Messages\/([^/]+)\.json$/.exec(rest)
    if (one && req.method === 'GET') {
      const found = state.messages.find((x) => x.sid === one[1])
      return found ? send(200, resource(found)) : fail(404, 20404)
    }

    const mediaList = /^Messages\/([^/]+)\/Media\.json$/.exec(rest)
    if (mediaList) {
      const found = state.messages.find((x) => x.sid === mediaList[1])
      if (!found) return fail(404, 20404)
      const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${found.sid}/Media.json`
      return send(200, {
        media_list: found.media.map((x) => ({
          sid: x.sid,
          account_sid: accountSid,
          parent_sid: found.sid,
          content_type: x.contentType,
          date_created: found.date_created,
          date_updated: found.date_updated,
          uri: `/2010-04-01/Accounts/${accountSid}/Messages/${found.sid}/Media/${x.sid}.json`,
        })),
        page: 0,
        page_size: 50,
        first_page_uri: uri,
        next_page_uri: null,
        previous_page_uri: null,
        start: 0,
        end: found.media.length - 1,
        uri,
      })
    }

    if (rest === 'IncomingPhoneNumbers.json' && req.method === 'GET') {
      const list = state.phoneNumbers.filter((n) => !query.PhoneNumber || n.phone_number === query.PhoneNumber)
      return send(200, {
        incoming_phone_numbers: list.map((n) => ({ ...n, account_sid: accountSid, capabilities: { sms: true, mms: true, voice: true } })),
        page: 0,
        page_size: 50,
        next_page_uri: null,
        uri: `/2010-04-01/Accounts/${accountSid}/IncomingPhoneNumbers.json`,
      })
    }
    const number = /^IncomingPhoneNumbers\/([^/]+)\.json$/.exec(rest)
    if (number && req.method === 'POST') {
      const n = state.phoneNumbers.find((x) => x.sid === number[1])
      if (!n) return fail(404, 20404)
      if (typeof form.SmsUrl === 'string') n.sms_url = form.SmsUrl
      if (typeof form.SmsMethod === 'string') n.sms_method = form.SmsMethod
      if (typeof form.StatusCallback === 'string') n.status_callback = form.StatusCallback
      return send(200, { ...n, account_sid: accountSid })
    }
    return fail(404, 20404)
  }

  const later = (ms: number, fn: () => Promise<unknown>) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      void fn()
    }, ms)
    timers.add(timer)
  }

  /** Moves an accepted text along as a carrier would, posting each status to its StatusCallback. */
  function progress(message: TwilioMessage) {
    const failure = failures.get(message.to)
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
        await postWebhook(state.deliveries, `status: ${step.status}`, message.status_callback, twilioHeaders(message.status_callback, params), new URLSearchParams(params).toString())
      }
      if (steps.length) later(stepMs, () => next(false))
    }
    later(Math.min(stepMs, 50), () => next(true))
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

  /** Twilio's own answer to an opt-out keyword, from the number the customer texted: the OptOutType it posts. */
  function keywordReply(customer: string, ours: string, body: string): 'STOP' | 'START' | 'HELP' | null {
    const word = body.trim().toUpperCase()
    // Advanced Opt-Out lets a Messaging Service add its own words (localised ones, say "ARRET").
    const custom = opts.customKeywords?.[word]
    const type = custom ?? (OPT_OUT.includes(word) ? 'STOP' : OPT_IN.includes(word) ? 'START' : HELP.includes(word) ? 'HELP' : null)
    if (!type) return null
    if (type === 'STOP') optedOut.add(`${customer} ${ours}`)
    if (type === 'START') optedOut.delete(`${customer} ${ours}`)
    const reply = KEYWORD_REPLIES[type]
    const now = Date.now()
    state.messages.push({
      sid: sid('SM'), account_sid: accountSid, to: customer, from: ours, messaging_service_sid: null, body: reply,
      status: 'delivered', direction: 'outbound-api', num_media: '0', num_segments: String(segments(reply)), error_code: null,
      error_message: null, date_created: rfc2822(now), date_updated: rfc2822(now), date_sent: rfc2822(now), status_callback: null,
      media: [], createdAtMs: now,
    })
    return type
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ code: 20500, message: String(err), status: 500 }))
    })
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

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
    failNext: (fault) => faults.add(fault),
    rejectRecipient: (to, code, status = 400) => void rejected.set(to, { code, status }),
    addInboundMessage({ from, to, body, media = [], at = Date.now() }) {
      const message: TwilioMessage = {
        sid: sid(media.length ? 'MM' : 'SM'),
        account_sid: accountSid,
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
      state.messages.push(message)
      return message
    },
    addPhoneNumber(e164) {
      state.phoneNumbers.push({ sid: sid('PN'), phone_number: e164, sms_url: null, sms_method: 'POST', status_callback: null })
    },
    mediaUrl: (message, index) => `${base}/2010-04-01/Accounts/${accountSid}/Messages/${message.sid}/Media/${message.media[index]!.sid}`,
    async receiveText({ from, to, body, media = [], via }) {
      const message = standIn.addInboundMessage({ from, to, body, media })
      const whatsapp = from.startsWith('whatsapp:')
      // Opt-out keywords are an SMS matter: Twilio does not handle them on WhatsApp.
      const optOut = opts.optOutKeywords && !whatsapp ? keywordReply(from, to, body) : null
      const number = state.phoneNumbers.find((n) => n.phone_number === to)
      const service = Object.values(state.services).find((s) => s.inbound_request_url && !s.use_inbound_webhook_on_number)
      const url = service?.inbound_request_url ?? number?.sms_url
      if (!url) return { message, delivery: null }
      const country = (n: string) => parsePhoneNumberFromString(n)?.country ?? ''
      const params: Record<string, string> = {
        ToCountry: country(to), ToState: '', SmsMessageSid: message.sid, NumMedia: message.num_media, ToCity: '', FromZip: '',
        SmsSid: message.sid, FromState: '', SmsStatus: 'received', FromCity: '', Body: body, FromCountry: country(from),
        To: to, ToZip: '', NumSegments: message.num_segments, MessageSid: message.sid, AccountSid: accountSid, From: from, ApiVersion: '2010-04-01',
        ...(optOut ? { OptOutType: optOut } : {}),
        // What a WhatsApp inbound adds (as in captured requests): the profile name and the sender's WhatsApp id.
        ...(whatsapp ? { ProfileName: 'WhatsApp customer', WaId: from.replace(/\D/g, ''), MessageType: media.length ? 'image' : 'text', ReferralNumMedia: '0', ChannelMetadata: JSON.stringify({ type: 'whatsapp', data: { context: { ProfileName: 'WhatsApp customer', WaId: from.replace(/\D/g, '') } } }) } : {}),
        ...(service?.sid ? { MessagingServiceSid: service.sid } : {}),
      }
      message.media.forEach((item, i) => {
        params[`MediaContentType${i}`] = item.contentType
        params[`MediaUrl${i}`] = standIn.mediaUrl(message, i)
      })
      const delivery = await postWebhook(state.deliveries, 'sms', through(url, via), twilioHeaders(url, params), new URLSearchParams(params).toString())
      return { message, delivery }
    },
    save: () => ({
      accountSid,
      authToken,
      messages: state.messages.map((m) => ({ ...m, media: m.media.map((x) => ({ ...x, data: x.data.toString('base64') })) })),
      phoneNumbers: state.phoneNumbers,
      services: state.services,
      optedOut: [...optedOut],
      failures: [...failures],
    }),
    failDelivery(to, failure) {
      if (failure) failures.set(to, { code: failure.code, status: failure.status ?? 'undelivered' })
      else failures.delete(to)
    },
    reset() {
      state.messages = []
      state.requests = []
      state.deliveries = []
      rejected.clear()
      failures.clear()
      optedOut.clear()
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      faults.clear()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer)
        timers.clear()
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
