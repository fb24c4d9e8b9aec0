import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody, type Fault, type RecordedRequest } from '../http.js'
import { validateApiRequest } from '../openapi.js'
import { findMacro, listMacros } from './macros.js'
import {
  API_VERSIONS,
  attachment,
  authorOf,
  contactJson,
  conversationJson as conversationShape,
  matches,
  shapesOf,
  RATE_LIMIT,
  seconds,
  WORKSPACE,
  type Contact,
  type Conversation,
  type IntercomState,
  type Part,
  type SearchQuery,
  contactSearchField,
} from './state.js'

// What the Intercom stand-in answers, for the calls the bridge makes (REST API 2.14, or 2.16 for
// 2.15 and later). Every API request needs the Bearer token and an Intercom-Version, is counted
// against the rate limit and is checked against the OpenAPI description of its version.
//
//   GET, HEAD /uploads/...                  an uploaded file: a public link, refused once expired
//   GET  /me                                the token's admin and its workspace
//   GET  /admins                            the workspace's teammates
//   POST /contacts                          create a contact (409 when one matches)
//   POST /contacts/search                   search contacts (lagging behind writes by searchLagMs), paged
//   GET, PUT /contacts/{id}                 read or update a contact (custom attributes must exist); a
//                                           merged-away one: 410 + Link on 2.16 and later, 404 before
//   POST /conversations                     a contact starts a conversation
//   POST /conversations/search              search conversations (dates compared by day)
//   GET, PUT /conversations/{id}            read a conversation, mark it read
//   POST /conversations/{id}/tags           tag a conversation
//   POST /conversations/{id}/parts          manage it: assignment to a teammate or a team (the rest: 400)
//   GET  /teams                             the workspace's teams
//   POST /conversations/{id}/reply          a reply, as the contact or as the admin (a note too)
//   GET, POST /tags                         list tags, create one (or find it by name)
//   GET  /segments                          the workspace's segments (the description's example, and addSegment)
//   GET, POST /data_attributes              list data attributes, create one
//   GET  /subscription_types                the workspace's subscription types (made in the UI)
//   GET  /office_hours_schedules            the workspace's office hours (2.16 only)
//   GET, POST /contacts/{id}/subscriptions  a contact's explicit choices; attach one
//   DELETE /contacts/{id}/subscriptions/{subscription_id}   detach one
//   GET, POST /data_connectors; GET, PATCH /data_connectors/{id}; GET .../{id}/execution_results
//                                           2.16 only: see data-connectors.ts
//   GET  /admins/{id}                       a teammate, with team_ids (2.16)
//   GET  /macros, /macros/{id}              macros visible to the token's admin, paged by cursor (2.16)

/** Whether the request's Intercom-Version answers a merged contact with 410 Gone (2.16 on), not 404. */
function saysGone(version: string): boolean {
  const minor = /^2\.(\d+)$/.exec(version)?.[1]
  return minor !== undefined && Number(minor) >= 16
}

/** 2.16's answer for a merged contact, as the description's ShowContact 410 example and `Link` header give it. */
export function contactMergedAnswer(survivorId: string): { headers: Record<string, string>; body: unknown } {
  return {
    headers: { link: `</contacts/${survivorId}>; rel="canonical"` },
    body: {
      type: 'error.list',
      request_id: randomBytes(8).toString('hex'),
      errors: [{ code: 'contact_merged', message: "This contact has been merged. See the 'Link' header for the canonical contact." }],
    },
  }
}

// The request bodies the endpoints read, once their shape passed the description's check.
interface ContactBody {
  role?: Contact['role']
  email?: string | null
  phone?: string | null
  name?: string | null
  external_id?: string | null
  custom_attributes?: Record<string, unknown>
}
interface MergeBody {
  from: string
  into: string
}
interface SearchBody {
  query: SearchQuery
  pagination?: { per_page?: number; starting_after?: string | null } | null
}
interface ConversationBody {
  from: { id: string }
  body: string
  created_at?: number
  attachment_urls?: string[]
}
interface ConversationUpdateBody {
  read?: boolean
}
/** POST /conversations/{id}/parts as the 2.16 description's assign_conversation_request gives it. */
interface AssignBody {
  message_type: string
  type?: 'admin' | 'team'
  admin_id: string
  assignee_id?: string
}

interface ConversationTagBody {
  id: string
  admin_id: string
}
interface ReplyBody {
  type: 'user' | 'admin'
  message_type?: string
  body?: string
  created_at?: number
  attachment_urls?: string[]
  intercom_user_id?: string
  email?: string
  user_id?: string
  admin_id?: string
  /** An admin's quick reply: its buttons; a contact's: the one chosen. */
  reply_options?: Array<{ text: string; uuid: string }>
}
interface TagBody {
  name: string
}
interface AttachBody {
  id: string
  consent_type: string
}
interface DataAttributeBody {
  name: string
  model: string
  data_type: string
}

function errorList(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string>) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify({ type: 'error.list', request_id: randomBytes(8).toString('hex'), errors: [{ code, message }] }))
}

type Answer = { json: unknown } | { status: number; error: string; message: string }

/** GET /admins/{id} (a teammate and their teams), GET /macros and /macros/{id}; undefined for any other path. */
function teamsAndMacros(state: IntercomState, path: string, query: Record<string, string>): Answer | undefined {
  const tokenTeams = state.teammates.get(state.admin.id)?.team_ids ?? []
  if (path === '/macros') return { json: listMacros(state.macros, tokenTeams, query) }
  const macroId = /^\/macros\/([^/]+)$/.exec(path)?.[1]
  if (macroId !== undefined) {
    const macro = findMacro(state.macros, tokenTeams, decodeURIComponent(macroId))
    return macro ? { json: macro } : { status: 404, error: 'not_found', message: 'Macro not found' }
  }
  const adminId = /^\/admins\/([^/]+)$/.exec(path)?.[1]
  if (adminId === undefined) return undefined
  const known = adminId === state.admin.id ? { name: state.admin.name } : state.teammates.get(adminId)
  if (!known) return { status: 404, error: 'admin_not_found', message: 'Admin not found' }
  const email = adminId === state.admin.id ? state.admin.email : `${adminId}@example.com`
  const teamIds = state.teammates.get(adminId)?.team_ids ?? []
  return {
    json: {
      type: 'admin',
      id: adminId,
      name: known.name,
      email,
      away_mode_enabled: false,
      away_mode_reassign: false,
      has_inbox_seat: true,
      away_status_reason_id: null,
      team_ids: teamIds,
    },
  }
}

/**
 * A contact's subscriptions: the list of its explicit choices, attach (the consent_type must be the
 * type's own: an opt-out type is attached as opt_out, an opt-in one as opt_in) and detach.
 */
function contactSubscriptions(
  state: IntercomState,
  at: { method: string; contactId: string; typeId: string | undefined },
  body: AttachBody,
): Answer {
  if (!state.findContact(at.contactId)) return { status: 404, error: 'not_found', message: 'User Not Found' }
  if (at.method === 'GET') return { json: { type: 'list', data: state.subscriptionsOf(at.contactId) } }
  const type = state.subscriptionTypes.find((t) => t.id === (at.typeId ?? body.id))
  // An archived type takes no new subscribers (assumed: Intercom's description does not say).
  if (!type || (at.method === 'POST' && type.state !== 'live')) return { status: 404, error: 'not_found', message: 'Resource Not Found' }
  if (at.method === 'DELETE') {
    state.setContactSubscription(at.contactId, type.id, null)
    return { json: type }
  }
  if (body.consent_type !== type.consent_type)
    return { status: 400, error: 'parameter_invalid', message: `consent_type must be ${type.consent_type} for this subscription type` }
  state.setContactSubscription(at.contactId, type.id, type.consent_type)
  return { json: type }
}

/** The request handler of the stand-in's HTTP server, reading and changing `state`. */
export function intercomRoutes(state: IntercomState): (req: IncomingMessage, res: ServerResponse) => Promise<unknown> {
  const rateHeaders = () => ({
    'x-ratelimit-limit': String(state.rateLimit ?? RATE_LIMIT),
    'x-ratelimit-remaining': String(Math.max(0, state.remaining)),
    'x-ratelimit-reset': String(state.resetAt),
  })

  return async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const raw = await readBody(req)
    let parsed: unknown
    try {
      parsed = raw ? JSON.parse(raw) : undefined
    } catch {
      parsed = Symbol('invalid json')
    }
    const record: RecordedRequest = {
      method: req.method!,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: parsed,
      headers: req.headers,
      status: 0,
      at: Date.now(),
    }
    state.requests.push(record)
    // Uploaded files: public links, no token; an expired one is refused as the CDN refuses it.
    if (url.pathname.startsWith('/uploads/') && (req.method === 'GET' || req.method === 'HEAD')) {
      const trouble = state.uploadFaults.take(req.method, url.pathname)
      if (trouble?.delayMs) await new Promise((r) => setTimeout(r, trouble.delayMs))
      if (trouble?.hang) return void (record.status = -1)
      if (trouble?.drop) {
        record.status = -1
        return void req.socket.destroy()
      }
      if (trouble?.status) {
        record.status = trouble.status
        res.writeHead(trouble.status, { 'content-type': 'text/html' })
        return res.end('<html><body>Service Unavailable</body></html>')
      }
      const file = state.uploads.get(url.pathname)
      record.status = !file ? 404 : file.expired ? 403 : 200
      if (!file || file.expired) {
        res.writeHead(record.status, { 'content-type': 'application/xml' })
        return res.end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>')
      }
      if (file.redirectTo) {
        record.status = 302
        res.writeHead(302, { location: file.redirectTo })
        return res.end()
      }
      res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.data.length })
      return res.end(req.method === 'HEAD' ? undefined : file.data)
    }
    if (seconds() >= state.resetAt) {
      state.remaining = state.rateLimit ?? RATE_LIMIT
      state.resetAt = seconds() + 10
    }
    let acceptedFault: Fault | undefined
    const send = (status: number, json: unknown) => {
      if (acceptedFault) {
        // The work is done, but the caller is told it failed: "accepted, then the connection broke".
        record.status = acceptedFault.status ?? 502
        res.writeHead(record.status, { 'content-type': 'application/json', ...rateHeaders() })
        return res.end(
          JSON.stringify({
            type: 'error.list',
            errors: [{ code: 'server_error', message: 'fault injected after the request was served' }],
          }),
        )
      }
      record.status = status
      res.writeHead(status, { 'content-type': 'application/json', ...rateHeaders() })
      res.end(JSON.stringify(json))
    }
    const fail = (status: number, code: string, message: string) => {
      record.status = status
      errorList(res, status, code, message, rateHeaders())
    }

    if (req.headers.authorization !== `Bearer ${state.token}`) return fail(401, 'unauthorized', 'Access Token Invalid')
    const version = req.headers['intercom-version']
    if (typeof version !== 'string' || !API_VERSIONS.has(version))
      return fail(400, 'intercom_version_invalid', 'Requested Intercom Version is not valid')
    // Answers in the shapes of the version asked for, checked against its description.
    const shapes = shapesOf(version)
    const conversationJson = (c: Conversation) => conversationShape(c, shapes)
    if (typeof parsed === 'symbol') return fail(400, 'parameter_invalid', 'Request body is not valid JSON')
    // An enforced limit refuses the window's calls past it, as Intercom does (API-NOTES: 429, rate_limit_exceeded).
    if (state.rateLimit !== null && state.remaining <= 0)
      return fail(429, 'rate_limit_exceeded', `Exceeded rate limit of ${state.rateLimit} in 10 seconds`)
    state.remaining--
    // An assignment: to the admin or the team named (which must exist), as the admin doing it.
    const assign = (conversation: Conversation, body: AssignBody) => {
      if (body.message_type !== 'assignment') return fail(400, 'parameter_invalid', 'The stand-in only assigns conversations')
      if (body.admin_id !== state.admin.id) return fail(404, 'not_found', 'Admin Not Found')
      const to = body.assignee_id ?? ''
      if (body.type === 'team') {
        if (to !== '0' && !state.teams.some((t) => t.id === to)) return fail(404, 'team_not_found', 'Team Not Found')
        conversation.team_assignee_id = to === '0' ? null : to
      } else {
        if (to !== '0' && to !== state.admin.id) return fail(404, 'not_found', 'Assignee Not Found')
        conversation.admin_assignee_id = to === '0' ? null : to
      }
      conversation.updated_at = seconds()
      return send(200, conversationJson(conversation))
    }

    const fault = state.faults.take(req.method!, url.pathname)
    if (fault?.afterAccept) acceptedFault = fault
    else if (fault) {
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs))
      if (fault.gate) await fault.gate
      if (fault.hang) return void (record.status = -1)
      if (fault.status) {
        record.status = fault.status
        if (fault.status === 429) state.remaining = 0
        res.writeHead(fault.status, { 'content-type': 'application/json', ...rateHeaders(), ...fault.headers })
        return res.end(
          JSON.stringify(
            fault.body ?? {
              type: 'error.list',
              errors: [
                {
                  code: fault.status === 429 ? 'rate_limit_exceeded' : 'server_error',
                  message: fault.status === 429 ? 'Exceeded rate limit' : 'Server error',
                },
              ],
            },
          ),
        )
      }
    }

    const check = validateApiRequest(shapes === '2.16' ? 'intercom-2.16' : 'intercom', req.method!, url.pathname, parsed, record.query)
    if (!check.ok) return fail(check.status, check.status === 400 ? 'parameter_invalid' : 'not_found', check.errors.join('; '))

    const path = url.pathname
    let m: RegExpExecArray | null
    const connectors = state.dataConnectors.handle(req.method!, path, parsed as Record<string, unknown> | undefined, record.query)
    if (connectors) return send(connectors.status, connectors.json)
    if (path === '/me')
      return send(200, {
        type: 'admin',
        ...state.admin,
        email_verified: true,
        app: { type: 'app', id_code: WORKSPACE, name: 'Test workspace', region: 'US', timezone: 'UTC', identity_verification: false },
      })
    if (path === '/teams')
      return send(200, {
        type: 'team.list',
        teams: state.teams.map((t) => ({ type: 'team', id: t.id, name: t.name, admin_ids: [], admin_priority_level: null })),
      })
    const teamAnswer = teamsAndMacros(state, path, record.query)
    if (teamAnswer) return 'json' in teamAnswer ? send(200, teamAnswer.json) : fail(teamAnswer.status, teamAnswer.error, teamAnswer.message)
    if (path === '/admins')
      return send(200, { type: 'admin.list', admins: [{ type: 'admin', ...state.admin, away_mode_enabled: false, has_inbox_seat: true }] })

    if (path === '/contacts' && req.method === 'POST') {
      const body = parsed as ContactBody
      if ((body.role ?? 'user') === 'user' && !body.email && !body.external_id) {
        return fail(400, 'parameter_invalid', 'A user must have an email or external_id')
      }
      const dupe = state.contacts.find(
        (c) => (body.email && c.email === body.email) || (body.external_id && c.external_id === body.external_id),
      )
      if (dupe) return fail(409, 'conflict', `A contact matching those details already exists with id=${dupe.id}`)
      const c = state.addContact({
        role: body.role ?? 'user',
        email: body.email ?? null,
        phone: body.phone ?? null,
        name: body.name ?? null,
        external_id: body.external_id ?? null,
        custom_attributes: body.custom_attributes ?? {},
      })
      return send(200, contactJson(c))
    }
    if (path === '/contacts/search') {
      const body = parsed as SearchBody
      const perPage = Math.min(body.pagination?.per_page ?? 50, 150)
      const now = Date.now()
      const found = state.contacts.filter((c) => c.searchableAt <= now && matches((f) => contactSearchField(c, f), body.query))
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
          ...(more
            ? {
                next: { page: Math.floor(start / perPage) + 2, starting_after: Buffer.from(String(start + perPage)).toString('base64url') },
              }
            : {}),
        },
      })
    }
    if (path === '/contacts/merge') {
      // A lead merged into a user: its conversations move to the user, and the lead is gone (see mergeContact).
      const body = parsed as MergeBody
      const from = state.findContact(body.from)
      const into = state.findContact(body.into)
      if (!from || !into) return fail(404, 'not_found', 'User Not Found')
      if (from.role !== 'lead' || into.role !== 'user')
        return fail(400, 'parameter_invalid', 'Only a lead can be merged, and only into a user')
      state.mergeContact(from.id, into.id)
      return send(200, contactJson(into))
    }
    if (path === '/subscription_types') return send(200, { type: 'list', data: state.subscriptionTypes })
    if (path === '/office_hours_schedules') return send(200, { type: 'office_hours_schedule.list', data: state.officeHoursSchedules })
    if ((m = /^\/contacts\/([^/]+)\/subscriptions(?:\/([^/]+))?$/.exec(path))) {
      const answer = contactSubscriptions(state, { method: req.method!, contactId: m[1]!, typeId: m[2] }, parsed as AttachBody)
      return 'error' in answer ? fail(answer.status, answer.error, answer.message) : send(200, answer.json)
    }
    if ((m = /^\/contacts\/([^/]+)$/.exec(path))) {
      const c = state.findContact(m[1])
      const survivor = c ? undefined : state.survivorOf(m[1]!)
      if (survivor && saysGone(version)) {
        const gone = contactMergedAnswer(survivor)
        record.status = 410
        res.writeHead(410, { 'content-type': 'application/json', ...rateHeaders(), ...gone.headers })
        return res.end(JSON.stringify(gone.body))
      }
      if (!c) return fail(404, 'not_found', 'User Not Found')
      if (req.method === 'PUT') {
        const body = parsed as ContactBody
        for (const name of Object.keys(body.custom_attributes ?? {})) {
          if (!state.dataAttributes.some((a) => a.name === name && a.model === 'contact')) {
            return fail(400, 'parameter_not_found', `Custom attribute '${name}' does not exist`)
          }
        }
        Object.assign(c.custom_attributes, body.custom_attributes ?? {})
        for (const key of ['phone', 'name', 'email', 'role'] as const) if (key in body) Object.assign(c, { [key]: body[key] })
        c.updated_at = seconds()
        c.searchableAt = Date.now() + state.searchLagMs
      }
      return send(200, contactJson(c))
    }

    if (path === '/conversations' && req.method === 'POST') {
      const body = parsed as ConversationBody
      const c = state.findContact(body.from.id)
      if (!c) return fail(404, 'not_found', 'User Not Found')
      const now = body.created_at ?? seconds()
      const conversation: Conversation = {
        type: 'conversation',
        id: String(state.nextId++),
        created_at: now,
        updated_at: now,
        state: 'open',
        open: true,
        tags: [],
        source: {
          type: 'conversation',
          id: String(state.nextId++),
          delivered_as: 'customer_initiated',
          subject: '',
          body: body.body,
          author: authorOf(c),
          attachments: (body.attachment_urls ?? []).map(attachment),
          url: null,
          redacted: false,
        },
        contacts: [{ type: 'contact', id: c.id, external_id: c.external_id }],
        parts: [],
      }
      state.conversations.push(conversation)
      return send(200, {
        type: 'user_message',
        id: conversation.source.id,
        created_at: now,
        body: body.body,
        message_type: 'inapp',
        conversation_id: conversation.id,
      })
    }
    if (path === '/conversations/search') {
      const body = parsed as SearchBody
      // Intercom compares dates by whole day: "created_at = t" finds everything from that day.
      const day = (seconds: unknown) => Math.floor(Number(seconds) / 86_400)
      const byDay = (q: SearchQuery): SearchQuery => {
        if (Array.isArray(q.value) && (q.operator === 'AND' || q.operator === 'OR')) return { ...q, value: q.value.map(byDay) }
        return q.operator !== 'AND' && q.operator !== 'OR' && (q.field === 'created_at' || q.field === 'updated_at')
          ? { ...q, value: day(q.value) }
          : q
      }
      const fields = (c: Conversation) => (f: string) =>
        f === 'contact_ids'
          ? c.contacts.map((x) => x.id)
          : f === 'source.body'
            ? c.source.body
            : f === 'created_at' || f === 'updated_at'
              ? day(c[f])
              : (c as unknown as Record<string, unknown>)[f]
      const found = state.conversations.filter((c) => matches(fields(c), byDay(body.query)))
      return send(200, {
        type: 'conversation.list',
        conversations: found.map(conversationJson),
        total_count: found.length,
        pages: { type: 'pages', page: 1, per_page: 20, total_pages: 1 },
      })
    }
    if ((m = /^\/conversations\/([^/]+)(\/reply|\/tags|\/parts)?$/.exec(path))) {
      const conversation = state.conversations.find((c) => c.id === m![1])
      if (!conversation) return fail(404, 'not_found', 'Resource Not Found')
      if (!m[2] && req.method === 'PUT') {
        const body = parsed as ConversationUpdateBody
        if (typeof body.read === 'boolean') conversation.read = body.read
        conversation.updated_at = seconds()
        return send(200, conversationJson(conversation))
      }
      if (m[2] === '/tags') {
        const body = parsed as ConversationTagBody
        const tag = state.tags.find((t) => t.id === body.id)
        if (!tag) return fail(404, 'not_found', 'Tag Not Found')
        if (!conversation.tags.some((t) => t.id === tag.id)) {
          conversation.tags.push({ ...tag, applied_at: seconds(), applied_by: { type: 'admin', id: body.admin_id } })
        }
        return send(200, tag)
      }
      if (m[2] === '/parts') return assign(conversation, parsed as AssignBody)
      if (m[2] === '/reply') {
        const body = parsed as ReplyBody
        const now = seconds()
        let author: Part['author']
        if (body.type === 'user') {
          const c =
            state.findContact(body.intercom_user_id) ??
            state.contacts.find((x) => (body.email && x.email === body.email) || (body.user_id && x.external_id === body.user_id))
          if (!c) return fail(404, 'not_found', 'User Not Found')
          author = authorOf(c)
          // A customer's reply reopens the conversation for the team.
          if (conversation.state !== 'open') {
            conversation.state = 'open'
            conversation.open = true
          }
        } else {
          if (body.admin_id !== state.admin.id) return fail(404, 'not_found', 'Admin Not Found')
          author = { type: 'admin', id: state.admin.id, name: state.admin.name, email: state.admin.email }
        }
        conversation.parts.push({
          type: 'conversation_part',
          id: String(state.nextId++),
          part_type:
            body.message_type === 'note'
              ? 'note'
              : body.type === 'admin' && body.message_type === 'quick_reply'
                ? 'quick_reply'
                : 'comment',
          body: body.body ?? null,
          created_at: body.created_at ?? now,
          updated_at: now,
          notified_at: now,
          author,
          attachments: (body.attachment_urls ?? []).map(attachment),
          redacted: false,
          ...(body.reply_options?.length
            ? {
                metadata:
                  body.type === 'user' ? { quick_reply_uuid: body.reply_options[0]!.uuid } : { quick_reply_options: body.reply_options },
              }
            : {}),
        })
        conversation.updated_at = now
        return send(200, conversationJson(conversation))
      }
      return send(200, conversationJson(conversation))
    }

    if (path === '/segments') {
      const counted = url.searchParams.get('include_count') === 'true'
      const segments = state.segments.map((s) =>
        counted ? { ...s, count: state.contacts.filter((c) => c.segment_ids?.includes(s.id)).length } : s,
      )
      return send(200, { type: 'segment.list', segments })
    }
    if (path === '/tags') {
      if (req.method === 'GET') return send(200, { type: 'list', data: state.tags })
      const body = parsed as TagBody
      let tag = state.tags.find((t) => t.name === body.name)
      if (!tag) {
        tag = { type: 'tag', id: String(state.nextId++), name: body.name }
        state.tags.push(tag)
      }
      return send(200, tag)
    }
    if (path === '/data_attributes') {
      if (req.method === 'GET')
        return send(200, { type: 'list', data: state.dataAttributes.map((a) => ({ type: 'data_attribute', ...a, custom: true })) })
      const body = parsed as DataAttributeBody
      if (state.dataAttributes.some((a) => a.name === body.name && a.model === body.model)) {
        return fail(400, 'parameter_invalid', `You already have '${body.name}' in your data. Please use a different name.`)
      }
      const attribute = { name: body.name, model: body.model, data_type: body.data_type }
      state.dataAttributes.push(attribute)
      return send(200, {
        type: 'data_attribute',
        id: state.nextId++,
        ...attribute,
        full_name: `custom_attributes.${body.name}`,
        custom: true,
      })
    }
    return fail(404, 'not_found', 'Resource Not Found')
  }
}
