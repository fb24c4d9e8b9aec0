import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ServerResponse } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import { loadConfig } from '../../server/config.js'
import { startService } from '../../server/main.js'
import { escapeHtml } from '../../shared/text.js'
import { formatForReading } from '../../shared/phone.js'
import { runSetup } from '../../server/ops/setup.js'
import { CONNECTOR_PATHS } from '../../server/routes/connectors.js'
import { connectorToken } from '../../shared/signatures.js'
import { OUR_NUMBER, standInEnv } from '../env.js'
import { startIntercomStandIn, type IntercomSaved, type IntercomStandIn } from '../intercom/index.js'
import type { Macro } from '../intercom/macros.js'
import { startTwilioStandIn, type TwilioSaved, type TwilioStandIn } from '../twilio/index.js'
import { samplePicture } from './picture.js'

// `npm run demo`: the real bridge, with simulated Twilio and Intercom, and one web page that plays the
// customer's phone, the Intercom inbox and the sidebar app. Everything listens on 127.0.0.1 only.

export const DEFAULT_PORT = 4000

export interface DemoOptions {
  /** Port of the page: 0 for any free one; unset: DEFAULT_PORT when free, else any. */
  port?: number
  /**
   * Folder to keep everything in: the bridge's database and the simulators' state, so that the next
   * start with the same folder carries on. Unset: a temporary folder, removed at close.
   */
  dataDir?: string
  /** The bridge's log level (default warn). */
  logLevel?: string
  /** Time between status callbacks (queued, sent, delivered), in ms (default 600). */
  statusStepMs?: number
}

export interface Demo {
  /** The page. */
  url: string
  /** Where the bridge listens; also its PUBLIC_URL. */
  bridgeUrl: string
  twilio: TwilioStandIn
  intercom: IntercomStandIn
  close(): Promise<void>
}

/** Customers the phone can play; any other valid number can be typed in. */
export const CUSTOMERS = [
  { number: '+14155550123', label: 'Ada, San Francisco' },
  { number: '+12025550143', label: 'Grace, Washington' },
  { number: '+16465550188', label: 'Linus, New York' },
]

export const WORKFLOW_TEMPLATE = 'order_shipped'

/** A macro the team keeps in Intercom, for the sidebar's "Use a macro" (visible to everyone, in the inbox). */
const DEMO_MACRO: Macro = {
  type: 'macro',
  id: '9001',
  name: 'Delivery window (SMS)',
  body: null,
  body_text: 'Hi {{user.first_name|fallback:"there"}}, your delivery comes between 9:00 and 12:00 tomorrow — reply here to change it.',
  created_at: '2026-12-07T09:00:00.000Z',
  updated_at: '2026-12-07T09:00:00.000Z',
  visible_to: 'everyone',
  visible_to_team_ids: [],
  available_on: ['inbox'],
}

export const WELCOME_TEMPLATE = 'Hi {{first_name|there}}, welcome to Acme! Reply STOP to opt out.'

// What a phone can be set to do with texts sent to it: Twilio's outcome and error code.
const DELIVERY_MODES = {
  delivered: null,
  unreachable: { code: 30003, status: 'undelivered' },
  filtered: { code: 30007, status: 'undelivered' },
  landline: { code: 30006, status: 'failed' },
} as const
type DeliveryMode = keyof typeof DELIVERY_MODES

// The Intercom topics the demo's app subscribes to. contact.*.created would welcome every new lead
// at once; here the welcome text is sent from the sidebar instead.
const TOPICS = ['conversation.admin.replied', 'conversation.operator.replied', 'conversation.admin.closed']

const WEB = new URL('./web/', import.meta.url)
const STATIC: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
}
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
}

/** A free port on 127.0.0.1: `preferred` when it is free, else any. */
async function freePort(preferred = 0): Promise<number> {
  const server = createNetServer()
  const listen = (port: number) => new Promise<void>((done, fail) => server.once('error', fail).listen(port, '127.0.0.1', done))
  await listen(preferred).catch(() => listen(0))
  const { port } = server.address() as AddressInfo
  await new Promise((done) => server.close(done))
  return port
}

/** What `--data` keeps besides the bridge's own database. */
interface DemoSaved {
  bridgePort: number
  /** The bridge keeps Twilio's media URLs and fetches only from TWILIO_API_BASE_URL: same port again. */
  twilioPort: number
  twilio: TwilioSaved
  intercom: IntercomSaved
  delivery: Array<[string, DeliveryMode]>
}

const e164 = (raw: unknown): string | null => {
  if (typeof raw !== 'string') return null
  const parsed = parsePhoneNumberFromString(raw.trim(), 'US')
  return parsed?.isValid() ? parsed.number : null
}

/** What Intercom's composer makes of typed text: paragraphs, escaped. */
const composerHtml = (text: string) =>
  text
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
    .join('')

const PICTURE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp'])

export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const dataDir = options.dataDir ? resolve(options.dataDir) : await mkdtemp(join(tmpdir(), 'sms-bridge-demo-'))
  const stateFile = join(dataDir, 'sandbox.json')
  if (options.dataDir) await mkdir(dataDir, { recursive: true })
  const saved = options.dataDir && existsSync(stateFile) ? (JSON.parse(await readFile(stateFile, 'utf8')) as DemoSaved) : null

  const twilio = await startTwilioStandIn({
    statusCallbacks: { stepMs: options.statusStepMs ?? 600 },
    optOutKeywords: true,
    ...(saved ? { saved: saved.twilio, port: await freePort(saved.twilioPort) } : {}),
  })
  const twilioPort = Number(new URL(twilio.url).port)
  const intercom = await startIntercomStandIn(saved ? { saved: saved.intercom } : {})
  const delivery = new Map<string, DeliveryMode>(saved?.delivery)
  const cleanup: Array<() => Promise<unknown>> = [() => intercom.close(), () => twilio.close()]
  const close = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {})
  }
  if (!options.dataDir) cleanup.unshift(() => rm(dataDir, { recursive: true, force: true }))
  try {
    // The bridge, exactly as deployed: its settings point at the simulators, its PUBLIC_URL is where it
    // listens (Twilio signs that URL; media links open in the browser). With --data, the same port as
    // last time when it is free, so the links Intercom keeps still work.
    const bridgePort = await freePort(saved?.bridgePort)
    const bridgeUrl = `http://127.0.0.1:${bridgePort}`
    if (options.dataDir) {
      // Saved when it changes and at close (after the bridge stops, before the simulators do).
      let written = ''
      const persist = async () => {
        const json = JSON.stringify({
          bridgePort,
          twilioPort,
          twilio: twilio.save(),
          intercom: intercom.save(),
          delivery: [...delivery],
        } satisfies DemoSaved)
        if (json === written) return
        await writeFile(`${stateFile}.tmp`, json)
        await rename(`${stateFile}.tmp`, stateFile)
        written = json
      }
      const timer = setInterval(() => void persist().catch(() => {}), 1000)
      cleanup.push(async () => {
        clearInterval(timer)
        await persist()
      })
    }
    const config = loadConfig(
      {
        ...standInEnv(twilio, intercom, join(dataDir, 'bridge.db')),
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: String(bridgePort),
        PUBLIC_URL: bridgeUrl,
        DEFAULT_COUNTRY: 'US',
        WELCOME_SMS_TEMPLATE: WELCOME_TEMPLATE,
        // The template a Workflow's "Send SMS" step names (the page's "Run a Workflow" button).
        SMS_TEMPLATES: JSON.stringify({
          [WORKFLOW_TEMPLATE]: 'Hi {{first_name|there}}, your order {{order|fallback:"yours"}} has shipped.',
        }),
        // Customers in the demo start by texting in; the welcome is theirs to send from the sidebar.
        WELCOME_BRIDGE_CONTACTS: 'true',
        LOG_LEVEL: options.logLevel ?? 'warn',
      },
      null,
    )
    // Its own "listening at" line would read as a second address to open: say what it is for.
    const bridge = await startService(config, {
      listen: {
        port: bridgePort,
        host: '127.0.0.1',
        listenTextResolver: (address) =>
          `the bridge listens at ${address} for the simulators' webhooks (the page to open is printed below)`,
      },
    })
    cleanup.push(() => bridge.close())

    // What an operator does once: `sms-bridge setup` points the number at the bridge and creates the tag
    // and contact attributes; in the Developer Hub, the webhook subscription.
    if (!twilio.phoneNumbers.some((n) => n.phone_number === OUR_NUMBER)) twilio.addPhoneNumber(OUR_NUMBER)
    const setup = await runSetup(config, bridge.clients, false)
    const failed = setup.filter((s) => !s.ok)
    if (failed.length) throw new Error(`setup failed: ${failed.map((s) => s.line).join(' ')}`)
    intercom.subscribeWebhooks({ url: `${bridgeUrl}/intercom/webhooks`, topics: TOPICS })

    if (!intercom.macros.some((m) => m.id === DEMO_MACRO.id)) intercom.macros.push(structuredClone(DEMO_MACRO))
    const workflowToken = connectorToken(config.intercom.clientSecret, 'workflows')
    const web = await startWeb({ twilio, intercom, bridgeUrl, delivery, workflowToken })
    cleanup.push(() => web.close())
    const url = await listenWeb(web, options.port)
    return { url, bridgeUrl, twilio, intercom, close }
  } catch (err) {
    await close()
    throw err
  }
}

async function listenWeb(web: FastifyInstance, port: number | undefined): Promise<string> {
  try {
    await web.listen({ port: port ?? DEFAULT_PORT, host: '127.0.0.1' })
  } catch (err) {
    if (port !== undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    await web.listen({ port: 0, host: '127.0.0.1' })
  }
  return `http://127.0.0.1:${(web.server.address() as AddressInfo).port}/`
}

interface WebContext {
  twilio: TwilioStandIn
  intercom: IntercomStandIn
  bridgeUrl: string
  /** What the carrier does with texts to each phone (the page's choice). */
  delivery: Map<string, DeliveryMode>
  /** The bearer token `setup` gave the Workflows connector: the page's "Run a Workflow" calls it as Intercom would. */
  workflowToken: string
}

/** The page and the small JSON API behind it. */
async function startWeb({ twilio, intercom, bridgeUrl, delivery, workflowToken }: WebContext): Promise<FastifyInstance> {
  const web = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 8 * 1024 * 1024 })
  const picture = samplePicture()

  function snapshot() {
    const seen = new Set(CUSTOMERS.map((c) => c.number))
    const phone = twilio.messages.map((m) => {
      const fromCustomer = m.direction === 'inbound'
      const customer = fromCustomer ? m.from! : m.to
      seen.add(customer)
      return {
        sid: m.sid,
        customer,
        fromCustomer,
        body: m.body,
        status: m.status,
        errorCode: m.error_code,
        at: m.createdAtMs,
        // A customer's pictures as Twilio keeps them; a teammate's as the phone got them, from the
        // URL Twilio fetched (the attachment's, in Intercom).
        media: fromCustomer
          ? m.media.map((x, i) => ({ url: `/api/media/${m.sid}/${i}`, contentType: x.contentType }))
          : m.media.flatMap((x) => (x.url ? [{ url: x.url, contentType: x.contentType }] : [])),
      }
    })
    const conversations = [...intercom.conversations]
      .sort((a, b) => b.updated_at - a.updated_at || Number(b.id) - Number(a.id))
      .map((c) => {
        const contact = intercom.contacts.find((x) => x.id === c.contacts[0]?.id)
        const attachments = (list: Array<{ url: string; name: string; content_type: string }>) =>
          list.map((a) => ({ url: a.url, name: a.name, contentType: a.content_type }))
        return {
          id: c.id,
          state: c.state,
          createdAt: c.created_at,
          updatedAt: c.updated_at,
          tags: c.tags.map((t) => t.name),
          contact: contact
            ? {
                id: contact.id,
                name: contact.name,
                role: contact.role,
                phone: contact.phone,
                email: contact.email,
                attributes: contact.custom_attributes,
              }
            : null,
          parts: [
            {
              id: c.source.id,
              type: 'comment',
              body: c.source.body,
              author: { type: c.source.author.type, name: c.source.author.name },
              at: c.created_at,
              attachments: attachments(c.source.attachments),
            },
            ...c.parts.map((p) => ({
              id: p.id,
              type: p.part_type,
              body: p.body,
              author: { type: p.author.type, name: p.author.name },
              at: p.created_at,
              attachments: attachments(p.attachments),
            })),
          ],
        }
      })
    // What the services posted to the bridge (Canvas Kit requests are the page's own and are left out).
    const deliveries = [
      ...twilio.deliveries.map((d) => ({ service: 'Twilio', kind: d.kind, path: new URL(d.url).pathname, status: d.status, at: d.at })),
      ...intercom.deliveries
        .filter((d) => !d.kind.startsWith('canvas'))
        .map((d) => ({ service: 'Intercom', kind: d.kind, path: new URL(d.url).pathname, status: d.status, at: d.at })),
    ]
      .sort((a, b) => a.at - b.at)
      .slice(-40)
    const numbers = [OUR_NUMBER, ...seen, ...conversations.flatMap((c) => (c.contact?.phone ? [c.contact.phone] : []))]
    return {
      ourNumber: OUR_NUMBER,
      bridgeUrl,
      // Every number on the page, written as the sidebar writes it (one formatter for all panes).
      readable: Object.fromEntries(numbers.map((n) => [n, formatForReading(n)])),
      customers: [...seen].map((number) => ({
        number,
        label: CUSTOMERS.find((c) => c.number === number)?.label ?? null,
        delivery: delivery.get(number) ?? 'delivered',
      })),
      phone,
      conversations,
      deliveries,
    }
  }

  // Server-sent events: the whole state, whenever it changes.
  const streams = new Set<ServerResponse>()
  let last = ''
  let ticker: NodeJS.Timeout | null = null
  const tick = () => {
    const state = JSON.stringify(snapshot())
    if (state === last) return
    last = state
    for (const stream of streams) stream.write(`data: ${state}\n\n`)
  }

  web.get('/api/events', (req, reply) => {
    reply.hijack()
    const stream = reply.raw
    stream.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    stream.write(`retry: 1000\ndata: ${JSON.stringify(snapshot())}\n\n`)
    streams.add(stream)
    ticker ??= setInterval(tick, 150)
    req.raw.on('close', () => {
      streams.delete(stream)
      if (streams.size === 0 && ticker) {
        clearInterval(ticker)
        ticker = null
        last = ''
      }
    })
  })
  web.addHook('onClose', async () => {
    if (ticker) clearInterval(ticker)
    for (const stream of streams) stream.end()
  })

  for (const [path, file] of Object.entries(STATIC)) {
    web.get(path, async (_req, reply) => {
      const body = await readFile(new URL(file, WEB))
      return reply.type(TYPES[file.split('.').pop()!]!).header('cache-control', 'no-store').send(body)
    })
  }
  web.get('/picture.png', (_req, reply) => reply.type('image/png').send(picture))
  web.get('/api/state', () => snapshot())

  // Pictures the customer texted, as their phone shows them.
  web.get<{ Params: { sid: string; index: string } }>('/api/media/:sid/:index', (req, reply) => {
    const item = twilio.messages.find((m) => m.sid === req.params.sid)?.media[Number(req.params.index)]
    if (!item) return reply.code(404).send({ error: 'No such picture.' })
    return reply.type(item.contentType).send(item.data)
  })

  const problem = (status: number, message: string) => Object.assign(new Error(message), { statusCode: status })
  web.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    reply.code(err.statusCode && err.statusCode < 500 ? err.statusCode : 502).send({ error: err.message })
  })

  // The customer texts our number: Twilio logs it and posts its signed webhook to the bridge.
  web.post<{ Body: { from?: unknown; body?: unknown; picture?: unknown } }>('/api/phone/text', async (req) => {
    const from = e164(req.body?.from)
    if (!from) throw problem(400, 'That is not a valid phone number.')
    const body = typeof req.body?.body === 'string' ? req.body.body : ''
    if (body.length > 1600) throw problem(400, 'A text is at most 1600 characters.')
    const media: Array<{ contentType: string; data: Buffer }> = []
    const given = req.body?.picture as { contentType?: unknown; data?: unknown } | 'sample' | undefined
    if (given === 'sample') media.push({ contentType: 'image/png', data: picture })
    else if (given && typeof given === 'object') {
      if (typeof given.contentType !== 'string' || !PICTURE_TYPES.has(given.contentType) || typeof given.data !== 'string')
        throw problem(400, 'Pictures are PNG, JPEG, GIF or WebP.')
      const data = Buffer.from(given.data, 'base64')
      if (data.length > 5 * 1024 * 1024) throw problem(400, 'A picture is at most 5 MB (the MMS limit).')
      media.push({ contentType: given.contentType, data })
    }
    if (!body.trim() && media.length === 0) throw problem(400, 'Write a text or attach a picture.')
    const { message, delivery: posted } = await twilio.receiveText({ from, to: OUR_NUMBER, body, media })
    if (!posted || posted.status !== 200) throw problem(502, `The bridge answered Twilio's webhook with ${posted?.status || 'no answer'}.`)
    return { sid: message.sid, status: posted.status }
  })

  // A number typed into "Another number…", checked when it is chosen (as the bridge will read it).
  web.post<{ Body: { number?: unknown } }>('/api/phone/number', async (req) => {
    const number = e164(req.body?.number)
    if (!number)
      throw problem(
        400,
        `${typeof req.body?.number === 'string' && req.body.number.trim() ? `"${req.body.number.trim().slice(0, 30)}" is not a phone number` : 'Type a number'}: with its country code, e.g. +1 312 555 0172 or +44 7400 123456.`,
      )
    return { number, readable: formatForReading(number) }
  })

  // What the carrier does with texts to this phone.
  web.post<{ Body: { number?: unknown; mode?: unknown } }>('/api/phone/delivery', async (req) => {
    const number = e164(req.body?.number)
    const mode = req.body?.mode as DeliveryMode
    if (!number || typeof mode !== 'string' || !(mode in DELIVERY_MODES))
      throw problem(400, 'Give a number and one of: ' + Object.keys(DELIVERY_MODES).join(', '))
    delivery.set(number, mode)
    twilio.failDelivery(number, DELIVERY_MODES[mode])
    return { number, mode }
  })

  const conversationOf = (id: unknown) => {
    const conversation = typeof id === 'string' ? intercom.conversation(id) : undefined
    if (!conversation) throw problem(404, 'No such conversation.')
    return conversation
  }

  // A teammate replies in the inbox: Intercom adds the part and posts conversation.admin.replied.
  // With `picture`, the sample picture is pasted into the reply as Intercom's composer does it: an
  // upload on Intercom's side, inlined as <img> in the HTML body (its link expires, so the bridge
  // copies it and gives Twilio its own link).
  web.post<{ Body: { conversationId?: unknown; body?: unknown; picture?: unknown } }>('/api/inbox/reply', async (req) => {
    const conversation = conversationOf(req.body?.conversationId)
    const text = typeof req.body?.body === 'string' ? req.body.body.trim() : ''
    const withPicture = req.body?.picture === true
    if (!text && !withPicture) throw problem(400, 'Write a reply or attach the picture first.')
    const inline = withPicture
      ? `<div class="intercom-container"><img src="${intercom.upload({ name: 'picture.png', contentType: 'image/png', data: picture })}"></div>`
      : ''
    const { part, delivery: posted } = await intercom.replyAsAdmin(conversation.id, { body: (text ? composerHtml(text) : '') + inline })
    if (!posted || posted.status !== 200)
      throw problem(502, `The bridge answered Intercom's webhook with ${posted?.status || 'no answer'}.`)
    return { partId: part.id }
  })

  web.post<{ Body: { conversationId?: unknown } }>('/api/inbox/close', async (req) => {
    const conversation = conversationOf(req.body?.conversationId)
    const { delivery: posted } = await intercom.closeAsAdmin(conversation.id)
    if (!posted || posted.status !== 200)
      throw problem(502, `The bridge answered Intercom's webhook with ${posted?.status || 'no answer'}.`)
    return { state: conversation.state }
  })

  // A Workflow's "Send SMS" step: Intercom calls the data connector `setup` made, with its token.
  web.post<{ Body: { conversationId?: unknown } }>('/api/workflow', async (req) => {
    const conversation = conversationOf(req.body?.conversationId)
    const res = await fetch(`${bridgeUrl}${CONNECTOR_PATHS.workflows}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${workflowToken}` },
      body: JSON.stringify({
        template: WORKFLOW_TEMPLATE,
        purpose: 'transactional',
        variables: 'order=A-1042',
        contact_id: conversation.contacts[0]!.id,
        conversation_id: conversation.id,
        step: `demo-${Date.now()}`,
      }),
    })
    if (!res.ok) throw problem(502, `The bridge answered the connector with ${res.status}: ${await res.text()}`)
    return { answer: await res.json() }
  })

  // The sidebar: Intercom posts the signed Canvas Kit request to the bridge and renders its answer.
  web.post<{ Body: { conversationId?: unknown; componentId?: unknown; inputValues?: unknown; currentCanvas?: unknown } }>(
    '/api/canvas',
    async (req) => {
      const conversation = conversationOf(req.body?.conversationId)
      const componentId = typeof req.body?.componentId === 'string' ? req.body.componentId : undefined
      const inputValues =
        req.body?.inputValues && typeof req.body.inputValues === 'object' ? (req.body.inputValues as Record<string, unknown>) : {}
      const { delivery: posted, canvas } = await intercom.postCanvas(`${bridgeUrl}/canvas/inbox/${componentId ? 'submit' : 'initialize'}`, {
        conversationId: conversation.id,
        ...(componentId ? { componentId, inputValues, currentCanvas: req.body?.currentCanvas ?? null } : {}),
      })
      if (posted.status !== 200 || !canvas)
        throw problem(502, `The bridge answered the Canvas Kit request with ${posted.status || 'no answer'}.`)
      return { canvas }
    },
  )

  await web.ready()
  return web
}
