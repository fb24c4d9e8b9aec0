import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody, type RecordedRequest } from '../http.js'
import { validateApiRequest } from '../openapi.js'
import { ERRORS, resource, rfc2822, type TwilioMessage, type TwilioState } from './state.js'

// What the Twilio stand-in answers, for the calls the bridge makes. Every request needs the account's
// Basic auth; those under /2010-04-01 are checked against Twilio's OpenAPI description.
//
//   GET, POST /v1/Services/{MG...}                               a Messaging Service: read it, set its inbound webhook
//   GET  /v1/Services/{MG...}/PhoneNumbers                       its sender pool's numbers
//   GET  /2010-04-01/Accounts/{sid}/Messages/{sid}/Media/{sid}   a media file (the MediaUrl{N} of a webhook)
//   GET  /2010-04-01/Accounts/{sid}.json                         the account
//   POST /2010-04-01/Accounts/{sid}/Messages.json                send a text
//   GET  /2010-04-01/Accounts/{sid}/Messages.json                the log: To, From, DateSent filters, pages
//   GET  /2010-04-01/Accounts/{sid}/Messages/{sid}.json          one message
//   POST /2010-04-01/Accounts/{sid}/Messages/{sid}.json          redact its body (Body=''), once it is final
//   GET  /2010-04-01/Accounts/{sid}/Messages/{sid}/Media.json    a message's media list
//   GET  /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json    the numbers (PhoneNumber filter)
//   POST /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{sid}.json   set a number's SMS URL and StatusCallback
//   GET  /v1/Messaging/Countries/{IsoCountry}                    the Pricing API: a country's SMS prices

/** Statuses after which Twilio lets a text be redacted. */
const FINAL_STATUSES = new Set(['delivered', 'undelivered', 'failed', 'received', 'read', 'canceled'])

function twilioError(
  res: ServerResponse,
  status: number,
  code: number,
  message = ERRORS[code] ?? 'Error',
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }))
}

/**
 * A service's sender pool as messaging v1 lists it (Twilio's PhoneNumber resource of a Service: the
 * list under `phone_numbers`, paging under `meta`), every number on one page. An unknown service: 404.
 */
function servicePhoneNumbers(state: TwilioState, serviceSid: string, accountSid: string) {
  const url = `https://messaging.twilio.com/v1/Services/${serviceSid}/PhoneNumbers`
  const numbers = state.services[serviceSid]?.phone_numbers ?? []
  return {
    phone_numbers: numbers.map((phone, i) => ({
      sid: `PN${String(i).padStart(32, '0')}`,
      account_sid: accountSid,
      service_sid: serviceSid,
      date_created: '2026-01-01T00:00:00Z',
      date_updated: '2026-01-01T00:00:00Z',
      phone_number: phone,
      country_code: 'US',
      capabilities: ['SMS', 'MMS'],
      url: `${url}/PN${String(i).padStart(32, '0')}`,
    })),
    meta: {
      page: 0,
      page_size: 50,
      first_page_url: `${url}?PageSize=50&Page=0`,
      previous_page_url: null,
      next_page_url: null,
      key: 'phone_numbers',
      url: `${url}?PageSize=50&Page=0`,
    },
  }
}

export interface TwilioRouteHooks {
  /** A text was accepted (POST Messages.json), before it is answered. */
  accepted(message: TwilioMessage): void
}

/** The request handler of the stand-in's HTTP server, reading and changing `state`. */
export function twilioRoutes(state: TwilioState, hooks: TwilioRouteHooks): (req: IncomingMessage, res: ServerResponse) => Promise<unknown> {
  const { accountSid } = state
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${state.authToken}`).toString('base64')}`

  return async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const raw = await readBody(req)
    const form = Object.fromEntries(
      [...new URLSearchParams(raw).keys()].map((k) => {
        const all = new URLSearchParams(raw).getAll(k)
        return [k, all.length > 1 || k === 'MediaUrl' ? all : all[0]]
      }),
    )
    const query = Object.fromEntries(url.searchParams)
    const record: RecordedRequest = {
      method: req.method!,
      path: url.pathname,
      query,
      body: raw ? form : undefined,
      headers: req.headers,
      status: 0,
      at: Date.now(),
    }
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
    const pool = /^\/v1\/Services\/(MG[0-9a-f]{32})\/PhoneNumbers$/.exec(path)
    if (pool && req.method === 'GET') return send(200, servicePhoneNumbers(state, pool[1]!, accountSid))
    const service = /^\/v1\/Services\/(MG[0-9a-f]{32})$/.exec(path)
    if (service) {
      const s = (state.services[service[1]!] ??= {
        sid: service[1]!,
        friendly_name: 'Support',
        inbound_request_url: null,
        inbound_method: 'POST',
        use_inbound_webhook_on_number: true,
      })
      if (req.method === 'POST') {
        if (typeof form.InboundRequestUrl === 'string') s.inbound_request_url = form.InboundRequestUrl
        if (typeof form.InboundMethod === 'string') s.inbound_method = form.InboundMethod
        if (typeof form.UseInboundWebhookOnNumber === 'string') s.use_inbound_webhook_on_number = form.UseInboundWebhookOnNumber === 'true'
      }
      return send(200, { ...s, account_sid: accountSid })
    }
    // The Pricing API lives on pricing.twilio.com (v1), which has no description in specs/.
    const pricing = /^\/v1\/Messaging\/Countries\/([^/]+)$/.exec(path)
    if (pricing && req.method === 'GET') {
      const fault = state.faults.take(req.method, path)
      if (fault?.hang) return void (record.status = -1) // never answered; the socket closes with the server
      if (fault?.status) return fail(fault.status, fault.status === 429 ? 20429 : 20500, 'fault injected')
      const country = state.prices.get(pricing[1]!.toUpperCase())
      return country ? send(200, country) : fail(404, 20404, 'The requested resource was not found')
    }
    const m = /^\/2010-04-01\/Accounts\/([^/]+?)(?:\.json|\/(.*))?$/.exec(path)
    if (!m || m[1] !== accountSid) return fail(404, 20404)

    const fault = state.faults.take(req.method!, path)
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
        res.end(
          JSON.stringify(fault.body ?? { code: fault.status === 429 ? 20429 : 20500, message: 'fault injected', status: fault.status }),
        )
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
    if (req.method === 'GET' && rest === '')
      return send(200, { sid: accountSid, friendly_name: 'Test account', status: 'active', type: 'Full' })

    if (rest === 'Messages.json' && req.method === 'POST') {
      const to = form.To as string
      if (!form.From && !form.MessagingServiceSid) return fail(400, 21603)
      if (!form.Body && !form.MediaUrl && !form.ContentSid) return fail(400, 21602)
      // WhatsApp: the same API with whatsapp:+E164 on both ends; mixing channels is refused.
      const whatsapp = to.startsWith('whatsapp:')
      if (!/^\+[1-9]\d{6,14}$/.test(whatsapp ? to.slice(9) : to)) return fail(400, 21211)
      if (form.From && whatsapp !== String(form.From).startsWith('whatsapp:')) return fail(400, 21910)
      const rejection = state.rejected.get(to)
      if (rejection) return fail(rejection.status, rejection.code)
      if (state.optedOut.has(`${to} ${String(form.From ?? form.MessagingServiceSid)}`)) return fail(400, 21610)
      const message = state.addOutboundMessage({
        to,
        from: (form.From as string | undefined) ?? null,
        messagingServiceSid: (form.MessagingServiceSid as string | undefined) ?? null,
        body: (form.Body as string | undefined) ?? '',
        mediaUrls: (form.MediaUrl as string[] | undefined) ?? [],
        statusCallback: (form.StatusCallback as string | undefined) ?? null,
      })
      hooks.accepted(message)
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
      const next =
        (page + 1) * pageSize < list.length
          ? `${uri}?${new URLSearchParams({ ...query, Page: String(page + 1), PageSize: String(pageSize), PageToken: `PA${page + 1}` }).toString()}`
          : null
      return send(200, {
        messages: slice.map((x) => resource(x)),
        page,
        page_size: pageSize,
        first_page_uri: `${uri}?PageSize=${pageSize}&Page=0`,
        next_page_uri: next,
        previous_page_uri: null,
        start: page * pageSize,
        end: page * pageSize + slice.length - 1,
        uri: `${uri}?${url.searchParams.toString()}`,
      })
    }

    const one = /^Messages\/([^/]+)\.json$/.exec(rest)
    if (one && req.method === 'GET') {
      const found = state.messages.find((x) => x.sid === one[1])
      return found ? send(200, resource(found)) : fail(404, 20404)
    }

    if (one && req.method === 'POST') {
      const found = state.messages.find((x) => x.sid === one[1])
      if (!found) return fail(404, 20404)
      // Only redaction is modelled (cancelling a scheduled text is not something the bridge does).
      if (form.Body !== '' || form.Status !== undefined) return fail(400, 30400)
      // Twilio keeps a text it is still sending (or awaiting a carrier's receipt for) unredactable.
      // The code here is the stand-in's own: the bridge waits on any such refusal, whatever its code.
      if (!FINAL_STATUSES.has(found.status)) return fail(400, 20009, `Cannot redact message in state ${found.status.toUpperCase()}`)
      found.body = ''
      found.date_updated = rfc2822(Date.now())
      return send(200, resource(found))
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
}
