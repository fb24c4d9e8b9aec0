import { createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { validateApiRequest } from './openapi.js'
import { FaultPlan, postWebhook, readBody, through, type Delivery, type Fault, type RecordedRequest } from './http.js'

const VERSIONS = new Set(['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1', '2.2', '2.3', '2.4', '2.5', '2.6', '2.7', '2.8', '2.9', '2.10', '2.11', '2.12', '2.13', '2.14', 'Unstable'])
const RATE_LIMIT = 10_000

export interface Contact {
  type: 'contact'
  id: string
  workspace_id: string
  external_id: string | null
  role: 'user' | 'lead'
  email: string | null
  phone: string | null
  name: string | null
  custom_attributes: Record<string, unknown>
  /** Intercom's native SMS fields, in current contact payloads (not in the 2.14 description). */
  sms_consent?: boolean
  unsubscribed_from_sms?: boolean
  location: { type: 'location'; country: string | null; region: string | null; city: string | null }
  created_at: number
  updated_at: number
  /** Not Intercom's: when search starts to see this contact (search is eventually consistent). */
  searchableAt: number
}

export interface Part {
  type: 'conversation_part'
  id: string
  /** Intercom records a teammate's reply as `assignment` when it assigns the conversation, `open` when it reopens it. */
  part_type: 'comment' | 'note' | 'open' | 'close' | 'assignment'
  body: string | null
  created_at: number
  updated_at: number
  notified_at: number
  author: { type: 'user' | 'lead' | 'admin' | 'bot'; id: string; name: string | null; email: string | null }
  attachments: Array<{ type: 'upload'; name: string; url: string; content_type: string }>
  redacted: false
}

export interface Conversation {
  type: 'conversation'
  id: string
  created_at: number
  updated_at: number
  state: 'open' | 'closed' | 'snoozed'
  open: boolean
  tags: Array<{ type: 'tag'; id: string; name: string; applied_at: number; applied_by: { type: 'admin'; id: string } }>
  source: {
    type: 'conversation'
    id: string
    delivered_as: 'customer_initiated'
    subject: string
    body: string
    author: { type: 'user' | 'lead'; id: string; name: string | null; email: string | null }
    attachments: Part['attachments']
    url: null
    redacted: false
  }
  contacts: Array<{ type: 'contact'; id: string; external_id: string | null }>
  parts: Part[]
  /** The teammate it is assigned to; the bridge's conversations start unassigned. */
  admin_assignee_id?: string | null
  /** Marked read through PUT /conversations/{id}. */
  read?: boolean
}

export interface IntercomStandIn {
  url: string
  token: string
  clientSecret: string
  admin: { id: string; name: string; email: string }
  contacts: Contact[]
  conversations: Conversation[]
  tags: Array<{ type: 'tag'; id: string; name: string }>
  dataAttributes: Array<{ name: string; model: string; data_type: string }>
  requests: RecordedRequest[]
  /** Requests that were API calls (not rejected for auth), optionally since an index into `requests`. */
  callsSince(index: number): RecordedRequest[]
  failNext(fault: Fault): void
  /** Newly created or updated contacts stay invisible to search this long. */
  searchLagMs: number
  addContact(c: Partial<Contact> & { role: 'user' | 'lead' }): Contact
  closeConversation(id: string, atMs?: number): void
  /**
   * A teammate (or bot) writes in the inbox: the part is added and returned, as a webhook would carry
   * it. As in Intercom, a teammate's reply in an unassigned conversation assigns it (an `assignment`
   * part) and one in a closed or snoozed conversation reopens it (an `open` part); `partType` forces one.
   */
  addAdminReply(conversationId: string, reply: { body: string; partType?: Part['part_type']; authorType?: 'admin' | 'bot'; attachments?: Array<{ url: string; content_type: string; name: string }> }): Part
  /**
   * A file a teammate uploads, hosted as Intercom hosts uploads: a public link (no credentials) that
   * stops working when it expires, as Intercom's do after about 30 minutes. Returns its URL.
   */
  upload(file: { name: string; contentType: string; data: Buffer }): string
  /** Every upload link expires now (instead of waiting half an hour). */
  expireUploads(): void
  /** Intercom's "Send test" notification, as it really arrives: topic ping, and an id of null. */
  pingNotification(): Record<string, unknown>
  /** The webhook Intercom would send for `topic` with these parts, as the real payload is shaped. */
  notification(topic: string, conversationId: string, parts: Part[]): Record<string, unknown>
  /** The contact.user.created / contact.lead.created webhook for a contact. */
  contactNotification(topic: string, contactId: string): Record<string, unknown>
  conversation(id: string): Conversation | undefined
  /** The app's webhook subscription (Developer Hub -> Webhooks): where, and which topics. None at first. */
  subscribeWebhooks(subscription: { url: string; topics: string[] } | null): void
  /**
   * A teammate replies in the inbox: the part is added and `conversation.admin.replied` posted, signed,
   * when subscribed (`via` one origin behind the subscribed URL's load balancer, if given).
   */
  replyAsAdmin(conversationId: string, reply: { body: string; attachments?: Part['attachments'] }, via?: string): Promise<{ part: Part; delivery: Delivery | null }>
  /**
   * A teammate closes the conversation: a close part (carrying `message`, HTML, when the teammate
   * wrote one to the customer), and `conversation.admin.closed` when subscribed.
   */
  closeAsAdmin(conversationId: string, message?: string): Promise<{ part: Part; delivery: Delivery | null }>
  /** A teammate reopens a closed conversation: an open part, and `conversation.admin.opened` when subscribed. */
  openAsAdmin(conversationId: string): Promise<{ part: Part; delivery: Delivery | null }>
  /**
   * What Intercom posts to a Canvas Kit URL when a teammate opens the app in a conversation's sidebar
   * (`componentId` unset) or clicks a button in it: the real-shaped body, signed with X-Body-Signature.
   */
  postCanvas(url: string, request: { conversationId: string; componentId?: string; inputValues?: Record<string, unknown>; currentCanvas?: unknown }): Promise<{ delivery: Delivery; canvas: unknown }>
  /** Webhooks and Canvas Kit requests posted, oldest first. */
  deliveries: Delivery[]
  /** Everything needed to start again where this one stands (`saved` option): credentials, admin, data. */
  save(): IntercomSaved
  close(): Promise<void>
}

/** A stand-in's state as JSON, for the demo's `--data` folder. */
export interface IntercomSaved {
  token: string
  clientSecret: string
  admin: IntercomStandIn['admin']
  contacts: Contact[]
  conversations: Conversation[]
  tags: IntercomStandIn['tags']
  dataAttributes: IntercomStandIn['dataAttributes']
  nextId: number
}

const hex24 = () => randomBytes(12).toString('hex')
const seconds = (ms = Date.now()) => Math.floor(ms / 1000)

function errorList(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string>) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify({ type: 'error.list', request_id: randomBytes(8).toString('hex'), errors: [{ code, message }] }))
}

/** Intercom's field matching for search: the operators the bridge may use. */
function matches(fields: (name: string) => unknown, q: any): boolean {
  if (q.operator === 'AND') return q.value.every((v: unknown) => matches(fields, v))
  if (q.operator === 'OR') return q.value.some((v: unknown) => matches(fields, v))
  const actual = fields(q.field)
  // A list field (contact_ids) matches when any of its values does.
  if (Array.isArray(actual)) return actual.some((v) => matches(() => v, q))
  const a = actual === null || actual === undefined ? null : String(actual)
  switch (q.operator) {
    case '=':
      return a === (q.value === null ? null : String(q.value))
    case '!=':
      return a !== String(q.value)
    case 'IN':
      return (q.value as unknown[]).map(String).includes(a ?? '')
    case 'NIN':
      return !(q.value as unknown[]).map(String).includes(a ?? '')
    case '~':
      return a !== null && a.includes(String(q.value))
    case '^':
      return a !== null && a.startsWith(String(q.value))
    case '$':
      return a !== null && a.endsWith(String(q.value))
    default:
      return false
  }
}

/** A loopback server that behaves like Intercom's REST API (version 2.14) for the calls the bridge makes. */
const CONTENT_TYPES: Record<string, string> = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', mp4: 'video/mp4', '3gp': 'video/3gpp', mov: 'video/quicktime', pdf: 'application/pdf', vcf: 'text/vcard', txt: 'text/plain' }

export async function startIntercomStandIn(opts: { token?: string; clientSecret?: string; saved?: IntercomSaved } = {}): Promise<IntercomStandIn> {
  const saved = opts.saved
  const token = saved?.token ?? opts.token ?? `dG9r${randomBytes(16).toString('hex')}`
  const clientSecret = saved?.clientSecret ?? opts.clientSecret ?? randomBytes(16).toString('hex')
  const admin = saved?.admin ?? { id: String(1_000_000 + Math.floor(Math.random() * 1_000_000)), name: 'Bridge Admin', email: 'admin@example.com' }
  const workspace = 'abc123xy'
  const faults = new FaultPlan()
  const contacts: Contact[] = saved?.contacts ?? []
  const conversations: Conversation[] = saved?.conversations ?? []
  const tags: IntercomStandIn['tags'] = saved?.tags ?? []
  const dataAttributes: IntercomStandIn['dataAttributes'] = saved?.dataAttributes ?? []
  const requests: RecordedRequest[] = []
  const deliveries: Delivery[] = []
  let subscription: { url: string; topics: string[] } | null = null
  const uploads = new Map<string, { contentType: string; data: Buffer; expired: boolean }>()
  let nextId = saved?.nextId ?? 1000
  let remaining = RATE_LIMIT
  let resetAt = seconds() + 10
  const standIn = { searchLagMs: 0 } as IntercomStandIn

  const rateHeaders = () => ({
    'x-ratelimit-limit': String(RATE_LIMIT),
    'x-ratelimit-remaining': String(Math.max(0, remaining)),
    'x-ratelimit-reset': String(resetAt),
  })

  const findContact = (id: string) => contacts.find((c) => c.id === id)
  const authorOf = (c: Contact) => ({ type: c.role, id: c.id, name: c.name, email: c.email })
  const conversationJson = (c: Conversation) => {
    const { parts, ...rest } = c
    return {
      ...rest,
      tags: { type: 'tag.list', tags: c.tags },
      contacts: { type: 'contact.list', contacts: c.contacts },
      // Parts and conversations carry everything captured notifications carry (test/fixtures/real),
      // mostly null, so the bridge meets the real shape here too.
      conversation_parts: {
        type: 'conversation_part.list',
        conversation_parts: parts.map((p) => ({ assigned_to: null, external_id: null, metadata: {}, email_message_metadata: null, state: c.state, tags: [], event_details: {}, app_package_code: null, ...p })),
        total_count: parts.length,
      },
      title: null,
      waiting_since: null,
      snoozed_until: null,
      first_contact_reply: null,
      sla_applied: null,
      statistics: null,
      conversation_rating: null,
      teammates: { type: 'admin.list', admins: c.admin_assignee_id ? [{ type: 'admin', id: c.admin_assignee_id }] : [] },
      custom_attributes: {},
      topics: { type: 'topic.list', topics: [], total_count: 0 },
      ticket: null,
      linked_objects: { type: 'list', data: [], total_count: 0, has_more: false },
      ai_agent: null,
      ai_agent_participated: false,
      read: c.read ?? false,
      priority: 'not_priority',
      admin_assignee_id: c.admin_assignee_id ?? null,
      team_assignee_id: null,
    }
  }
  const contactJson = (c: Contact) => {
    const { searchableAt: _s, ...rest } = c
    return { ...rest, tags: { type: 'list', data: [] } }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const raw = await readBody(req)
    let body: any
    try {
      body = raw ? JSON.parse(raw) : undefined
    } catch {
      body = Symbol('invalid json')
    }
    const record: RecordedRequest = { method: req.method!, path: url.pathname, query: Object.fromEntries(url.searchParams), body, headers: req.headers, status: 0, at: Date.now() }
    requests.push(record)
    // Uploaded files: public links, no token; an expired one is refused as the CDN refuses it.
    if (url.pathname.startsWith('/uploads/') && (req.method === 'GET' || req.method === 'HEAD')) {
      const file = uploads.get(url.pathname)
      record.status = !file ? 404 : file.expired ? 403 : 200
      if (!file || file.expired) {
        res.writeHead(record.status, { 'content-type': 'application/xml' })
        return res.end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>')
      }
      res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.data.length })
      return res.end(req.method === 'HEAD' ? undefined : file.data)
    }
    if (seconds() >= resetAt) {
      remaining = RATE_LIMIT
      resetAt = seconds() + 10
    }
    let acceptedFault: Fault | undefined
    const send = (status: number, json: unknown) => {
      if (acceptedFault) {
        // The work is done, but the caller is told it failed: "accepted, then the connection broke".
        record.status = acceptedFault.status ?? 502
        res.writeHead(record.status, { 'content-type': 'application/json', ...rateHeaders() })
        return res.end(JSON.stringify({ type: 'error.list', errors: [{ code: 'server_error', message: 'fault injected after the request was served' }] }))
      }
      record.status = status
      res.writeHead(status, { 'content-type': 'application/json', ...rateHeaders() })
      res.end(JSON.stringify(json))
    }
    const fail = (status: number, code: string, message: string) => {
      record.status = status
      errorList(res, status, code, message, rateHeaders())
    }

    if (req.headers.authorization !== `Bearer ${token}`) return fail(401, 'unauthorized', 'Access Token Invalid')
    const version = req.headers['intercom-version']
    if (typeof version !== 'string' || !VERSIONS.has(version)) return fail(400, 'intercom_version_invalid', 'Requested Intercom Version is not valid')
    if (typeof body === 'symbol') return fail(400, 'parameter_invalid', 'Request body is not valid JSON')
    remaining--

    const fault = faults.take(req.method!, url.pathname)
    if (fault?.afterAccept) acceptedFault = fault
    else if (fault) {
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs))
      if (fault.gate) await fault.gate
      if (fault.hang) return void (record.status = -1)
      if (fault.status) {
        record.status = fault.status
        if (fault.status === 429) remaining = 0
        res.writeHead(fault.status, { 'content-type': 'application/json', ...rateHeaders(), ...fault.headers })
        return res.end(
          JSON.stringify(
            fault.body ?? {
              type: 'error.list',
              errors: [{ code: fault.status === 429 ? 'rate_limit_exceeded' : 'server_error', message: fault.status === 429 ? 'Exceeded rate limit' : 'Server error' }],
            },
          ),
        )
      }
    }

    const check = validateApiRequest('intercom', req.method!, url.pathname, body, record.query)
    if (!check.ok) return fail(check.status, check.status === 400 ? 'parameter_invalid' : 'not_found', check.errors.join('; '))

    const path = url.pathname
    let m: RegExpExecArray | null
    if (path === '/me') return send(200, { type: 'admin', ...admin, email_verified: true, app: { type: 'app', id_code: workspace, name: 'Test workspace', region: 'US', timezone: 'UTC', identity_verification: false } })
    if (path === '/admins') return send(200, { type: 'admin.list', admins: [{ type: 'admin', ...admin, away_mode_enabled: false, has_inbox_seat: true }] })

    if (path === '/contacts' && req.method === 'POST') {
      if ((body.role ?? 'user') === 'user' && !body.email && !body.external_id) {
        return fail(400, 'parameter_invalid', 'A user must have an email or external_id')
      }
      const dupe = contacts.find((c) => (body.email && c.email === body.email) || (body.external_id && c.external_id === body.external_id))
      if (dupe) return fail(409, 'conflict', `A contact matching those details already exists with id=${dupe.id}`)
      const c = standIn.addContact({ role: body.role ?? 'user', email: body.email ?? null, phone: body.phone ?? null, name: body.name ?? null, external_id: body.external_id ?? null, custom_attributes: body.custom_attributes ?? {} })
      return send(200, contactJson(c))
    }
    if (path === '/contacts/search') {
      const perPage = Math.min(body.pagination?.per_page ?? 50, 150)
      const now = Date.now()
      const found = contacts.filter(
        (c) => c.searchableAt <= now && matches((f) => (c as unknown as Record<string, unknown>)[f] ?? c.custom_attributes[f], body.query),
      )
      const start = body.pagination?.starting_after ? Number(Buffer.from(body.pagination.starting_after, 'base64url').toString()) : 0
      const data = found.slice(start, start + perPage)
      const more = start + perPage < found.length
      return send(200, {
        type: 'list',
        data: data.map(contactJson),
        total_count: found.length,
        pages: {
          type: 'pages',
          page: Math.floor(start / perPage) + 1,
          per_page: perPage,
          total_pages: Math.max(1, Math.ceil(found.length / perPage)),
          ...(more ? { next: { page: Math.floor(start / perPage) + 2, starting_after: Buffer.from(String(start + perPage)).toString('base64url') } } : {}),
        },
      })
    }
    if ((m = /^\/contacts\/([^/]+)$/.exec(path))) {
      const c = findContact(m[1]!)
      if (!c) return fail(404, 'not_found', 'User Not Found')
      if (req.method === 'PUT') {
        for (const name of Object.keys(body.custom_attributes ?? {})) {
          if (!dataAttributes.some((a) => a.name === name && a.model === 'contact')) {
            return fail(400, 'parameter_not_found', `Custom attribute '${name}' does not exist`)
          }
        }
        Object.assign(c.custom_attributes, body.custom_attributes ?? {})
        for (const key of ['phone', 'name', 'email', 'role'] as const) if (key in body) (c as any)[key] = body[key]
        c.updated_at = seconds()
        c.searchableAt = Date.now() + standIn.searchLagMs
      }
      return send(200, contactJson(c))
    }

    if (path === '/conversations' && req.method === 'POST') {
      const c = findContact(body.from.id)
      if (!c) return fail(404, 'not_found', 'User Not Found')
      const now = body.created_at ?? seconds()
      const conversation: Conversation = {
        type: 'conversation',
        id: String(nextId++),
        created_at: now,
        updated_at: now,
        state: 'open',
        open: true,
        tags: [],
        source: { type: 'conversation', id: String(nextId++), delivered_as: 'customer_initiated', subject: '', body: body.body, author: authorOf(c), attachments: (body.attachment_urls ?? []).map(upload), url: null, redacted: false },
        contacts: [{ type: 'contact', id: c.id, external_id: c.external_id }],
        parts: [],
      }
      conversations.push(conversation)
      return send(200, { type: 'user_message', id: conversation.source.id, created_at: now, body: body.body, message_type: 'inapp', conversation_id: conversation.id })
    }
    if (path === '/conversations/search') {
      // Intercom compares dates by whole day: "created_at = t" finds everything from that day.
      const day = (seconds: unknown) => Math.floor(Number(seconds) / 86_400)
      const byDay = (q: any): any =>
        Array.isArray(q.value) && (q.operator === 'AND' || q.operator === 'OR')
          ? { ...q, value: q.value.map(byDay) }
          : q.field === 'created_at' || q.field === 'updated_at'
            ? { ...q, value: day(q.value) }
            : q
      const fields = (c: Conversation) => (f: string) =>
        f === 'contact_ids'
          ? c.contacts.map((x) => x.id)
          : f === 'source.body'
            ? c.source.body
            : f === 'created_at' || f === 'updated_at'
              ? day(c[f])
              : (c as unknown as Record<string, unknown>)[f]
      const found = conversations.filter((c) => matches(fields(c), byDay(body.query)))
      return send(200, {
        type: 'conversation.list',
        conversations: found.map(conversationJson),
        total_count: found.length,
        pages: { type: 'pages', page: 1, per_page: 20, total_pages: 1 },
      })
    }
    if ((m = /^\/conversations\/([^/]+)(\/reply|\/tags)?$/.exec(path))) {
      const conversation = conversations.find((c) => c.id === m![1])
      if (!conversation) return fail(404, 'not_found', 'Resource Not Found')
      if (!m[2] && req.method === 'PUT') {
        if (typeof body.read === 'boolean') conversation.read = body.read
        conversation.updated_at = seconds()
        return send(200, conversationJson(conversation))
      }
      if (m[2] === '/tags') {
        const tag = tags.find((t) => t.id === body.id)
        if (!tag) return fail(404, 'not_found', 'Tag Not Found')
        if (!conversation.tags.some((t) => t.id === tag.id)) {
          conversation.tags.push({ ...tag, applied_at: seconds(), applied_by: { type: 'admin', id: body.admin_id } })
        }
        return send(200, tag)
      }
      if (m[2] === '/reply') {
        const now = seconds()
        let author: Part['author']
        if (body.type === 'user') {
          const c = findContact(body.intercom_user_id) ?? contacts.find((x) => (body.email && x.email === body.email) || (body.user_id && x.external_id === body.user_id))
          if (!c) return fail(404, 'not_found', 'User Not Found')
          author = authorOf(c)
          // A customer's reply reopens the conversation for the team.
          if (conversation.state !== 'open') {
            conversation.state = 'open'
            conversation.open = true
          }
        } else {
          if (body.admin_id !== admin.id) return fail(404, 'not_found', 'Admin Not Found')
          author = { type: 'admin', id: admin.id, name: admin.name, email: admin.email }
        }
        conversation.parts.push({
          type: 'conversation_part',
          id: String(nextId++),
          part_type: body.message_type === 'note' ? 'note' : 'comment',
          body: body.body ?? null,
          created_at: body.created_at ?? now,
          updated_at: now,
          notified_at: now,
          author,
          attachments: (body.attachment_urls ?? []).map(upload),
          redacted: false,
        })
        conversation.updated_at = now
        return send(200, conversationJson(conversation))
      }
      return send(200, conversationJson(conversation))
    }

    if (path === '/tags') {
      if (req.method === 'GET') return send(200, { type: 'list', data: tags })
      let tag = tags.find((t) => t.name === body.name)
      if (!tag) {
        tag = { type: 'tag', id: String(nextId++), name: body.name }
        tags.push(tag)
      }
      return send(200, tag)
    }
    if (path === '/data_attributes') {
      if (req.method === 'GET') return send(200, { type: 'list', data: dataAttributes.map((a) => ({ type: 'data_attribute', ...a, custom: true })) })
      if (dataAttributes.some((a) => a.name === body.name && a.model === body.model)) {
        return fail(400, 'parameter_invalid', `You already have '${body.name}' in your data. Please use a different name.`)
      }
      const attribute = { name: body.name, model: body.model, data_type: body.data_type }
      dataAttributes.push(attribute)
      return send(200, { type: 'data_attribute', id: nextId++, ...attribute, full_name: `custom_attributes.${body.name}`, custom: true })
    }
    return fail(404, 'not_found', 'Resource Not Found')
  }

  function envelope(topic: string, item: unknown) {
    return {
      type: 'notification_event',
      app_id: workspace,
      id: `notif_${randomBytes(8).toString('hex')}`,
      topic,
      delivery_status: 'pending',
      delivery_attempts: 1,
      delivered_at: 0,
      first_sent_at: seconds(),
      created_at: seconds(),
      self: null,
      links: {},
      data: { type: 'notification_event_data', item },
    }
  }

  /** Posts a notification to the subscribed URL as Intercom does: JSON, signed with X-Hub-Signature. */
  async function deliver(topic: string, conversationId: string, parts: Part[], via?: string): Promise<Delivery | null> {
    if (!subscription?.topics.includes(topic)) return null
    const raw = JSON.stringify(standIn.notification(topic, conversationId, parts))
    const headers = { 'content-type': 'application/json', 'user-agent': 'Intercom-Webhooks', 'x-hub-signature': signIntercomWebhook(clientSecret, raw) }
    return postWebhook(deliveries, topic, through(subscription.url, via), headers, raw)
  }

  /** An attachment from a link, named after the link's last segment; its type read off the extension. */
  function upload(url: string): Part['attachments'][number] {
    const name = decodeURIComponent(new URL(url).pathname.split('/').pop() || 'file')
    return { type: 'upload', name, url, content_type: CONTENT_TYPES[/\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? ''] ?? 'application/octet-stream' }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ type: 'error.list', errors: [{ code: 'server_error', message: String(err) }] }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

  return Object.assign(standIn, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    clientSecret,
    admin,
    contacts,
    conversations,
    tags,
    dataAttributes,
    requests,
    deliveries,
    callsSince: (index: number) => requests.slice(index).filter((r) => r.status !== 401),
    failNext: (fault: Fault) => faults.add(fault),
    addContact(c: Partial<Contact> & { role: 'user' | 'lead' }): Contact {
      const now = seconds()
      const contact: Contact = {
        type: 'contact',
        id: hex24(),
        workspace_id: workspace,
        external_id: null,
        email: null,
        phone: null,
        name: null,
        custom_attributes: {},
        sms_consent: false,
        unsubscribed_from_sms: false,
        location: { type: 'location', country: null, region: null, city: null },
        created_at: now,
        updated_at: now,
        ...c,
        searchableAt: Date.now() + standIn.searchLagMs,
      }
      contacts.push(contact)
      return contact
    },
    closeConversation(id: string, atMs = Date.now()) {
      const c = conversations.find((x) => x.id === id)!
      c.state = 'closed'
      c.open = false
      c.updated_at = seconds(atMs)
    },
    conversation: (id: string) => conversations.find((x) => x.id === id),
    addAdminReply(conversationId: string, reply: { body: string; partType?: Part['part_type']; authorType?: 'admin' | 'bot'; attachments?: Part['attachments'] }): Part {
      const conversation = conversations.find((x) => x.id === conversationId)!
      const now = seconds()
      let partType = reply.partType
      if (!partType && reply.authorType !== 'bot') {
        if (!conversation.admin_assignee_id) {
          conversation.admin_assignee_id = admin.id
          partType = 'assignment'
        } else if (conversation.state !== 'open') partType = 'open'
        if (conversation.state !== 'open') {
          conversation.state = 'open'
          conversation.open = true
        }
      }
      const part: Part = {
        type: 'conversation_part',
        id: String(nextId++),
        part_type: partType ?? 'comment',
        body: reply.body,
        created_at: now,
        updated_at: now,
        notified_at: now,
        author: reply.authorType === 'bot' ? { type: 'bot', id: '8888', name: 'Fin', email: null } : { type: 'admin', id: admin.id, name: admin.name, email: admin.email },
        attachments: reply.attachments ?? [],
        redacted: false,
      }
      conversation.parts.push(part)
      return part
    },
    save: (): IntercomSaved => ({ token, clientSecret, admin, contacts, conversations, tags, dataAttributes, nextId }),
    subscribeWebhooks(given: { url: string; topics: string[] } | null) {
      subscription = given
    },
    async replyAsAdmin(conversationId: string, reply: { body: string; attachments?: Part['attachments'] }, via?: string) {
      const part = standIn.addAdminReply(conversationId, { body: reply.body, ...(reply.attachments ? { attachments: reply.attachments } : {}) })
      standIn.conversation(conversationId)!.updated_at = part.created_at
      return { part, delivery: await deliver('conversation.admin.replied', conversationId, [part], via) }
    },
    async closeAsAdmin(conversationId: string, message?: string) {
      const conversation = standIn.conversation(conversationId)!
      standIn.closeConversation(conversationId)
      const part = standIn.addAdminReply(conversationId, { body: message ?? '', partType: 'close' })
      if (!message) part.body = null
      conversation.updated_at = part.created_at
      return { part, delivery: await deliver('conversation.admin.closed', conversationId, [part]) }
    },
    async openAsAdmin(conversationId: string) {
      const conversation = standIn.conversation(conversationId)!
      conversation.state = 'open'
      conversation.open = true
      const part = standIn.addAdminReply(conversationId, { body: '', partType: 'open' })
      part.body = null
      conversation.updated_at = part.created_at
      return { part, delivery: await deliver('conversation.admin.opened', conversationId, [part]) }
    },
    upload(file: { name: string; contentType: string; data: Buffer }) {
      const path = `/uploads/i/o/${hex24()}/${encodeURIComponent(file.name)}`
      uploads.set(path, { contentType: file.contentType, data: file.data, expired: false })
      return `${standIn.url}${path}`
    },
    expireUploads() {
      for (const file of uploads.values()) file.expired = true
    },
    pingNotification() {
      // As captured from Intercom's "Send test" button: no id, no delivery bookkeeping.
      return {
        type: 'notification_event',
        app_id: workspace,
        data: { type: 'notification_event_data', item: { type: 'ping', message: 'something something interzen' } },
        links: {},
        id: null,
        topic: 'ping',
        delivery_status: null,
        delivery_attempts: 1,
        delivered_at: 0,
        first_sent_at: seconds(),
        created_at: seconds(),
        self: null,
      }
    },
    async postCanvas(url: string, r: { conversationId: string; componentId?: string; inputValues?: Record<string, unknown>; currentCanvas?: unknown }) {
      const conversation = standIn.conversation(r.conversationId)!
      const contact = findContact(conversation.contacts[0]!.id)!
      const body = {
        workspace_id: workspace,
        workspace_region: 'us',
        admin: { type: 'admin', ...admin },
        conversation: conversationJson(conversation),
        contact: contactJson(contact),
        customer: contactJson(contact),
        context: { conversation_id: Number(conversation.id), location: 'inbox', locale: 'en' },
        ...(r.componentId ? { component_id: r.componentId, input_values: r.inputValues ?? {}, current_canvas: r.currentCanvas ?? null } : {}),
      }
      const raw = JSON.stringify(body)
      const headers = { 'content-type': 'application/json', 'x-body-signature': signCanvas(clientSecret, raw) }
      const delivery = await postWebhook(deliveries, r.componentId ? `canvas: ${r.componentId}` : 'canvas: initialize', url, headers, raw)
      let canvas: unknown = null
      try {
        canvas = JSON.parse(delivery.response ?? 'null')
      } catch {
        // Not JSON: the caller shows the status.
      }
      return { delivery, canvas }
    },
    contactNotification(topic: string, contactId: string) {
      return envelope(topic, contactJson(findContact(contactId)!))
    },
    notification(topic: string, conversationId: string, parts: Part[]) {
      const conversation = conversations.find((x) => x.id === conversationId)!
      return envelope(topic, conversationJson({ ...conversation, parts }))
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
}

/** `X-Hub-Signature` as Intercom sends it with webhooks. */
export function signIntercomWebhook(clientSecret: string, rawBody: string): string {
  return `sha1=${createHmac('sha1', clientSecret).update(rawBody).digest('hex')}`
}

/** `X-Body-Signature` as Intercom sends it with Canvas Kit requests. */
export function signCanvas(clientSecret: string, rawBody: string): string {
  return createHmac('sha256', clientSecret).update(rawBody).digest('hex')
}
