import { exampleMacros, type Macro } from './macros.js'
import { randomBytes } from 'node:crypto'
import { DataConnectors } from './data-connectors.js'
import { FaultPlan, type Delivery, type Fault, type RecordedRequest } from '../http.js'

// The Intercom stand-in's model: the workspace's admin, contacts, conversations, tags and data
// attributes, uploads, the webhook subscription, what a test set to go wrong, and the shapes
// Intercom's API and webhooks give them. No HTTP here: routes.ts answers the API's requests,
// index.ts listens and posts Intercom's webhooks and Canvas Kit requests.

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
  /** Not Intercom's fields: the segments the contact is in and the tags on it (search's `segment_id`, `tag_id`). */
  segment_ids?: string[]
  tag_ids?: string[]
}

/** A segment as GET /segments lists it (2.16: `person_type` user or lead). */
export interface Segment {
  type: 'segment'
  id: string
  name: string
  created_at: number
  updated_at: number
  person_type: 'user' | 'lead'
}

/**
 * The segments every workspace starts with here: the 2.16 description's example of GET /segments
 * (paths./segments.get.responses.200, ../shared/specs/intercom-api-2.16.yaml), as saved in
 * test/fixtures/real/intercom/api-2.16-lists/segments.json.
 */
export const EXAMPLE_SEGMENTS: Segment[] = [
  {
    type: 'segment',
    id: '6762f25c1bb69f9f2193bc22',
    name: 'John segment',
    created_at: 1734537820,
    updated_at: 1734537820,
    person_type: 'user',
  },
  {
    type: 'segment',
    id: '6762f25c1bb69f9f2193bc23',
    name: 'Jane segment',
    created_at: 1734537820,
    updated_at: 1734537820,
    person_type: 'user',
  },
]

export interface Part {
  type: 'conversation_part'
  id: string
  /**
   * Intercom records a teammate's reply as `assignment` when it assigns the conversation, `open` when
   * it reopens it; the others are the system parts and quick replies of its 2.16 description.
   */
  part_type: PartType
  body: string | null
  created_at: number
  updated_at: number
  notified_at: number
  author: { type: 'user' | 'lead' | 'admin' | 'bot'; id: string; name: string | null; email: string | null }
  attachments: Array<{ type: 'upload'; name: string; url: string; content_type: string }>
  redacted: boolean
  /** A quick reply's buttons (an admin's or bot's part), or the button a contact's reply chose. */
  metadata?: { quick_reply_options?: QuickReplyOption[]; quick_reply_uuid?: string }
}

export type PartType =
  | 'comment'
  | 'note'
  | 'open'
  | 'close'
  | 'assignment'
  | 'assign_and_reopen'
  | 'snoozed'
  | 'quick_reply'
  | 'channel_and_reply_time_expectation'
  | 'conversation_attribute_updated_by_admin'

export interface QuickReplyOption {
  text: string
  uuid: string
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
  /** The team it is assigned to (POST /conversations/{id}/parts, assignment). */
  team_assignee_id?: string | null
  /** Marked read through PUT /conversations/{id}. */
  read?: boolean
}

/** The teammate the access token belongs to. */
export interface Admin {
  id: string
  name: string
  email: string
}

export interface Tag {
  type: 'tag'
  id: string
  name: string
}

export interface DataAttribute {
  name: string
  model: string
  data_type: string
}

/**
 * A subscription type, as GET /subscription_types gives it. Teams create them in Intercom's UI (the
 * API cannot): a test creates one with `addSubscriptionType`.
 */
export interface SubscriptionType {
  type: 'subscription'
  id: string
  state: 'live' | 'draft' | 'archived'
  consent_type: 'opt_out' | 'opt_in'
  default_translation: { name: string; description: string; locale: string }
  translations: Array<{ name: string; description: string; locale: string }>
  content_types: Array<'email' | 'sms_message'>
}

/** The app's webhook subscription (Developer Hub -> Webhooks): where, and which topics. */
export interface Subscription {
  url: string
  topics: string[]
}

/** A stand-in's state as JSON, for the demo's `--data` folder. */
export interface IntercomSaved {
  token: string
  clientSecret: string
  admin: Admin
  contacts: Contact[]
  conversations: Conversation[]
  tags: Tag[]
  dataAttributes: DataAttribute[]
  nextId: number
}

/**
 * The Intercom-Version values Intercom takes. The stand-in answers 2.15 and later (and Preview) in
 * 2.16's shapes and checks their requests against the 2.16 description; earlier ones as 2.14.
 */
export const API_VERSIONS = new Set([
  '1.0',
  '1.1',
  '1.2',
  '1.3',
  '1.4',
  '2.0',
  '2.1',
  '2.2',
  '2.3',
  '2.4',
  '2.5',
  '2.6',
  '2.7',
  '2.8',
  '2.9',
  '2.10',
  '2.11',
  '2.12',
  '2.13',
  '2.14',
  '2.15',
  '2.16',
  'Preview',
  'Unstable',
])
const CURRENT = new Set(['2.15', '2.16', 'Preview'])

/** Which shapes a version gets: 2.14's, or 2.16's (unassigned is 0, five priorities, owner_id a string). */
export type Shapes = '2.14' | '2.16'
export const shapesOf = (version: string | undefined): Shapes => (version && CURRENT.has(version) ? '2.16' : '2.14')

/**
 * A part's HTML as a 2.15+ app's webhook gives it: plain text, paragraphs on their own lines, and
 * inline pictures gone (what 2.15 does with them is not documented; dropping them is the worst case).
 */
export function plainTextBody(html: string | null): string | null {
  if (html === null) return null
  return html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|li|h\d)>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .trim()
}

/** Requests allowed in each 10 s window, as X-RateLimit-Limit says. */
export const RATE_LIMIT = 10_000
/** The workspace's id (app_id, id_code). */
export const WORKSPACE = 'abc123xy'

export const hex24 = () => randomBytes(12).toString('hex')
export const seconds = (ms = Date.now()) => Math.floor(ms / 1000)

/** A search query as Intercom takes it: AND / OR over nested queries, or a field compared with a value. */
export type SearchQuery =
  | { operator: 'AND'; value: SearchQuery[] }
  | { operator: 'OR'; value: SearchQuery[] }
  | { field: string; operator: '=' | '!=' | 'IN' | 'NIN' | '<' | '<=' | '>' | '>=' | '~' | '!~' | '^' | '$'; value: unknown }

/** Intercom's field matching for search: the operators the bridge may use. */
export function matches(fields: (name: string) => unknown, q: SearchQuery): boolean {
  if (q.operator === 'AND') return q.value.every((v) => matches(fields, v))
  if (q.operator === 'OR') return q.value.some((v) => matches(fields, v))
  const actual = fields(q.field)
  // A list field (contact_ids) matches when any of its values does.
  if (Array.isArray(actual)) return actual.some((v) => matches(() => v, q))
  const a = actual === null || actual === undefined ? null : asText(actual)
  switch (q.operator) {
    case '=':
      return a === (q.value === null ? null : asText(q.value))
    case '!=':
      return a !== asText(q.value)
    case 'IN':
      return (q.value as unknown[]).map(asText).includes(a ?? '')
    case 'NIN':
      return !(q.value as unknown[]).map(asText).includes(a ?? '')
    case '~':
      return a !== null && a.includes(asText(q.value))
    case '^':
      return a !== null && a.startsWith(asText(q.value))
    case '$':
      return a !== null && a.endsWith(asText(q.value))
    default:
      return false
  }
}

/** A value as search compares it: as text (fields and query values are strings, numbers, booleans). */
function asText(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(v)
    default:
      return JSON.stringify(v)
  }
}

const CONTENT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  mp4: 'video/mp4',
  '3gp': 'video/3gpp',
  mov: 'video/quicktime',
  pdf: 'application/pdf',
  vcf: 'text/vcard',
  txt: 'text/plain',
}

/** An attachment from a link, named after the link's last segment; its type read off the extension. */
export function attachment(url: string): Part['attachments'][number] {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() || 'file')
  return {
    type: 'upload',
    name,
    url,
    content_type: CONTENT_TYPES[/\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? ''] ?? 'application/octet-stream',
  }
}

export const authorOf = (c: Contact) => ({ type: c.role, id: c.id, name: c.name, email: c.email })

/**
 * What a teammate or bot writes: words, files, and the part type (forced, or chosen as Intercom
 * does); a quick reply's buttons go in its metadata, as 2.16 describes them.
 */
export interface AdminReply {
  body: string
  partType?: PartType
  authorType?: 'admin' | 'bot'
  attachments?: Array<{ url: string; content_type: string; name: string }>
  options?: QuickReplyOption[]
}

/** A conversation as the API (and a webhook's item) gives it, in the shapes of `shapes`. */
export function conversationJson(c: Conversation, shapes: Shapes = '2.14') {
  const { parts, ...rest } = c
  return {
    ...rest,
    tags: { type: 'tag.list', tags: c.tags },
    contacts: { type: 'contact.list', contacts: c.contacts },
    // Parts and conversations carry everything captured notifications carry (test/fixtures/real),
    // mostly null, so the bridge meets the real shape here too.
    conversation_parts: {
      type: 'conversation_part.list',
      conversation_parts: parts.map((p) => ({
        assigned_to: null,
        external_id: null,
        metadata: {},
        email_message_metadata: null,
        state: c.state,
        tags: [],
        event_details: {},
        app_package_code: null,
        ...p,
      })),
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
    ...(shapes === '2.16'
      ? {
          priority: 'none',
          admin_assignee_id: Number(c.admin_assignee_id ?? 0),
          team_assignee_id: Number(c.team_assignee_id ?? 0),
          channel: { initial: 'messenger', current: 'messenger' },
        }
      : { priority: 'not_priority', admin_assignee_id: c.admin_assignee_id ?? null, team_assignee_id: c.team_assignee_id ?? null }),
  }
}

/** A contact as the API (and a webhook's item) gives it: no owner (2.16 gives an owner's id as a string). */
export function contactJson(c: Contact) {
  const { searchableAt: _s, segment_ids: _g, tag_ids: tagIds, ...rest } = c
  const tags = (tagIds ?? []).map((id) => ({ type: 'tag', id, url: `/tags/${id}` }))
  return { ...rest, owner_id: null, tags: { type: 'list', data: tags } }
}

/** What search reads for a field: a segment's or tag's members by their lists, else the contact's own field. */
export function contactSearchField(c: Contact, field: string): unknown {
  if (field === 'segment_id') return c.segment_ids ?? []
  if (field === 'tag_id') return c.tag_ids ?? []
  return (c as unknown as Record<string, unknown>)[field] ?? c.custom_attributes[field]
}

/** A webhook notification around `item`, as Intercom wraps it. */
function envelope(topic: string, item: unknown) {
  return {
    type: 'notification_event',
    app_id: WORKSPACE,
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

export interface IntercomStateOptions {
  token?: string
  clientSecret?: string
  /** Start from a saved state (its credentials win over token and clientSecret). */
  saved?: IntercomSaved
}

/** One Intercom workspace as the stand-in keeps it. */
export class IntercomState {
  /** The workspace's data connectors (2.16) and their execution results. */
  readonly dataConnectors = new DataConnectors()
  readonly token: string
  readonly clientSecret: string
  readonly admin: Admin
  /** Faults queued for the next matching requests. */
  readonly faults = new FaultPlan()
  /** Faults of the upload host alone (failUpload): API faults never reach a file download, nor these an API call. */
  readonly uploadFaults = new FaultPlan<Fault & { drop?: boolean }>()
  readonly contacts: Contact[]
  readonly conversations: Conversation[]
  readonly tags: Tag[]
  readonly segments: Segment[] = EXAMPLE_SEGMENTS.map((s) => ({ ...s }))
  readonly dataAttributes: DataAttribute[]
  /** The workspace's teams (GET /teams; made in Intercom's UI, none at first). */
  readonly teams: Array<{ id: string; name: string }> = []
  readonly requests: RecordedRequest[] = []
  /** Webhooks and Canvas Kit requests posted, oldest first. */
  readonly deliveries: Delivery[] = []
  /** None at first. */
  subscription: Subscription | null = null
  /**
   * The app's version in the Developer Hub, which shapes its webhooks: from 2.15, part and source
   * bodies are plain text (the REST API still answers HTML, per the request's Intercom-Version).
   */
  appVersion = '2.14'
  /** Uploaded files by path, served as public links until they expire. */
  readonly uploads = new Map<string, { contentType: string; data: Buffer; expired: boolean; redirectTo?: string | undefined }>()
  nextId: number
  /** The rate limit's window: requests left, and when it starts again (seconds). */
  remaining = RATE_LIMIT
  resetAt = seconds() + 10
  /**
   * Calls allowed per 10-second window, enforced (429 rate_limit_exceeded) as Intercom does; null:
   * the headers say RATE_LIMIT and nothing is refused (the tests that are not about the limit).
   */
  rateLimit: number | null = null
  /** Newly created or updated contacts stay invisible to search this long. */
  searchLagMs = 0
  /** Contacts merged away (POST /contacts/merge), and the contact each became. */
  readonly merged = new Map<string, string>()
  /** The workspace's subscription types (made in Intercom's UI; none at first). */
  readonly subscriptionTypes: SubscriptionType[] = []
  /**
   * The workspace's office hours schedules (GET /office_hours_schedules): at first the 2.16
   * description's example (test/fixtures/real/intercom/api/office-hours-schedules-spec-2.16.json),
   * Monday and Tuesday 9:00-17:00; a test replaces them.
   */
  officeHoursSchedules: Array<Record<string, unknown>> = [
    {
      type: 'office_hours_schedule',
      id: '123',
      name: 'Standard Support Hours',
      time_zone_name: 'America/New_York',
      time_intervals: [
        { start_minute: 540, end_minute: 1020, day_of_week: 0 },
        { start_minute: 1980, end_minute: 2460, day_of_week: 1 },
      ],
      twenty_four_seven: false,
      created_at: 1717200000,
      updated_at: 1717200000,
    },
  ]
  /** Each contact's explicit choices: subscription type id -> the consent_type it was attached with. */
  readonly contactSubscriptions = new Map<string, Map<string, SubscriptionType['consent_type']>>()
  /** The workspace's macros (2.16), seeded with its description's examples. */
  readonly macros: Macro[] = exampleMacros()
  /** Teammates other than the token's admin, and every admin's teams (GET /admins/{id}'s team_ids). */
  readonly teammates = new Map<string, { name: string; team_ids: string[] }>()

  constructor(opts: IntercomStateOptions) {
    const saved = opts.saved
    this.token = saved?.token ?? opts.token ?? `dG9r${randomBytes(16).toString('hex')}`
    this.clientSecret = saved?.clientSecret ?? opts.clientSecret ?? randomBytes(16).toString('hex')
    this.admin = saved?.admin ?? {
      id: String(1_000_000 + Math.floor(Math.random() * 1_000_000)),
      name: 'Bridge Admin',
      email: 'admin@example.com',
    }
    this.contacts = saved?.contacts ?? []
    this.conversations = saved?.conversations ?? []
    this.tags = saved?.tags ?? []
    this.dataAttributes = saved?.dataAttributes ?? []
    this.nextId = saved?.nextId ?? 1000
  }

  findContact(id: string | undefined): Contact | undefined {
    return this.contacts.find((c) => c.id === id)
  }

  conversation(id: string): Conversation | undefined {
    return this.conversations.find((x) => x.id === id)
  }

  addContact(c: Partial<Contact> & { role: 'user' | 'lead' }): Contact {
    const now = seconds()
    const contact: Contact = {
      type: 'contact',
      id: hex24(),
      workspace_id: WORKSPACE,
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
      searchableAt: Date.now() + this.searchLagMs,
    }
    this.contacts.push(contact)
    return contact
  }

  /** A team creates a subscription type in Intercom's UI (Settings -> Subscriptions). */
  /** A segment (made in Intercom's UI) holding these contacts. */
  addSegment(name: string, members: Contact[] = []): Segment {
    const segment: Segment = { type: 'segment', id: hex24(), name, created_at: seconds(), updated_at: seconds(), person_type: 'user' }
    this.segments.push(segment)
    for (const c of members) c.segment_ids = [...(c.segment_ids ?? []), segment.id]
    return segment
  }

  /** A tag (made in Intercom's UI) on these contacts. */
  tagContacts(name: string, members: Contact[]): Tag {
    let tag = this.tags.find((t) => t.name === name)
    if (!tag) {
      tag = { type: 'tag', id: String(this.nextId++), name }
      this.tags.push(tag)
    }
    for (const c of members) c.tag_ids = [...(c.tag_ids ?? []), tag.id]
    return tag
  }

  addSubscriptionType(t: {
    name: string
    consentType: SubscriptionType['consent_type']
    contentTypes: SubscriptionType['content_types']
    state?: SubscriptionType['state']
  }): SubscriptionType {
    const translation = { name: t.name, description: '', locale: 'en' }
    const type: SubscriptionType = {
      type: 'subscription',
      id: String(this.nextId++),
      state: t.state ?? 'live',
      consent_type: t.consentType,
      default_translation: translation,
      translations: [translation],
      content_types: t.contentTypes,
    }
    this.subscriptionTypes.push(type)
    return type
  }

  /**
   * Attaches (`consent` given) or detaches (null) a contact and a subscription type, as the API and a
   * teammate's click in the contact's profile do.
   */
  setContactSubscription(contactId: string, typeId: string, consent: SubscriptionType['consent_type'] | null): void {
    const chosen = this.contactSubscriptions.get(contactId) ?? new Map<string, SubscriptionType['consent_type']>()
    if (consent) chosen.set(typeId, consent)
    else chosen.delete(typeId)
    this.contactSubscriptions.set(contactId, chosen)
  }

  /** The types a contact made an explicit choice about, as GET /contacts/{id}/subscriptions lists them. */
  subscriptionsOf(contactId: string): SubscriptionType[] {
    const chosen = this.contactSubscriptions.get(contactId) ?? new Map<string, SubscriptionType['consent_type']>()
    return this.subscriptionTypes.filter((t) => chosen.has(t.id)).map((t) => ({ ...t, consent_type: chosen.get(t.id)! }))
  }

  /**
   * Intercom's merge: the lead's conversations become the user's, the lead no longer exists (its id
   * answers 410 with a `Link` to the user on 2.16, 404 before) and leaves search results.
   */
  mergeContact(fromId: string, intoId: string): void {
    const into = this.findContact(intoId)!
    for (const conversation of this.conversations) {
      for (const c of conversation.contacts) if (c.id === fromId) Object.assign(c, { id: into.id, external_id: into.external_id })
      if (conversation.source.author.id === fromId) conversation.source.author = authorOf(into)
    }
    this.contacts.splice(
      this.contacts.findIndex((c) => c.id === fromId),
      1,
    )
    this.merged.set(fromId, intoId)
  }

  /**
   * The contact a merged-away id became: merges of merges are followed, as Intercom's `Link` resolves
   * chains of up to 3 hops. Undefined for an id never merged.
   */
  survivorOf(id: string): string | undefined {
    let at = this.merged.get(id)
    for (let hop = 1; at !== undefined && hop < 3 && this.merged.has(at); hop++) at = this.merged.get(at)
    return at
  }

  /** A contact writes in the Messenger: a conversation of theirs, as Intercom opens it. */
  addConversation(contactId: string, body: string, atMs = Date.now()): Conversation {
    const c = this.findContact(contactId)!
    const at = seconds(atMs)
    const conversation: Conversation = {
      type: 'conversation',
      id: String(this.nextId++),
      created_at: at,
      updated_at: at,
      state: 'open',
      open: true,
      tags: [],
      source: {
        type: 'conversation',
        id: String(this.nextId++),
        delivered_as: 'customer_initiated',
        subject: '',
        body: `<p>${body}</p>`,
        author: authorOf(c),
        attachments: [],
        url: null,
        redacted: false,
      },
      contacts: [{ type: 'contact', id: c.id, external_id: c.external_id }],
      parts: [],
    }
    this.conversations.push(conversation)
    return conversation
  }

  closeConversation(id: string, atMs = Date.now()): void {
    const c = this.conversations.find((x) => x.id === id)!
    c.state = 'closed'
    c.open = false
    c.updated_at = seconds(atMs)
  }

  /**
   * A teammate (or bot) writes in the inbox. A teammate's reply in an unassigned conversation assigns
   * it (an `assignment` part) and one in a closed or snoozed conversation reopens it (an `open` part);
   * `partType` forces one.
   */
  addAdminReply(conversationId: string, reply: AdminReply): Part {
    const conversation = this.conversations.find((x) => x.id === conversationId)!
    const admin = this.admin
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
      id: String(this.nextId++),
      part_type: partType ?? 'comment',
      body: reply.body,
      created_at: now,
      updated_at: now,
      notified_at: now,
      author:
        reply.authorType === 'bot'
          ? { type: 'bot', id: '8888', name: 'Fin', email: null }
          : { type: 'admin', id: admin.id, name: admin.name, email: admin.email },
      attachments: (reply.attachments ?? []).map((a) => ({ type: 'upload' as const, ...a })),
      redacted: false,
      ...(reply.options ? { metadata: { quick_reply_options: reply.options } } : {}),
    }
    conversation.parts.push(part)
    return part
  }

  /** Keeps an uploaded file; returns the path it is served at. */
  addUpload(file: { name: string; contentType: string; data: Buffer; redirectTo?: string }): string {
    const path = `/uploads/i/o/${hex24()}/${encodeURIComponent(file.name)}`
    this.uploads.set(path, { contentType: file.contentType, data: file.data, expired: false, redirectTo: file.redirectTo })
    return path
  }

  expireUploads(): void {
    for (const file of this.uploads.values()) file.expired = true
  }

  /** Intercom's "Send test" notification, as it really arrives: topic ping, and an id of null. */
  pingNotification(): Record<string, unknown> {
    // As captured from Intercom's "Send test" button: no id, no delivery bookkeeping.
    return {
      type: 'notification_event',
      app_id: WORKSPACE,
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
  }

  /** The webhook Intercom would send for `topic` with these parts, as the real payload is shaped. */
  notification(topic: string, conversationId: string, parts: Part[]): Record<string, unknown> {
    const conversation = this.conversations.find((x) => x.id === conversationId)!
    const shapes = shapesOf(this.appVersion)
    if (shapes === '2.14') return envelope(topic, conversationJson({ ...conversation, parts }))
    const source = { ...conversation.source, body: plainTextBody(conversation.source.body) ?? '' }
    return envelope(
      topic,
      conversationJson({ ...conversation, source, parts: parts.map((p) => ({ ...p, body: plainTextBody(p.body) })) }, shapes),
    )
  }

  /** The contact.user.created / contact.lead.created webhook for a contact. */
  contactNotification(topic: string, contactId: string): Record<string, unknown> {
    return envelope(topic, contactJson(this.findContact(contactId)!))
  }

  /**
   * A teammate deletes the contact: it is gone, and the contact.deleted webhook carries only what
   * identifies it (the *.deleted topics send no full object), shaped as the reference's contact_deleted.
   */
  contactDeletedNotification(contactId: string): Record<string, unknown> {
    const contact = this.findContact(contactId)
    const at = this.contacts.findIndex((c) => c.id === contactId)
    if (at >= 0) this.contacts.splice(at, 1)
    return envelope('contact.deleted', { type: 'contact', id: contactId, external_id: contact?.external_id ?? null, deleted: true })
  }

  save(): IntercomSaved {
    const { token, clientSecret, admin, contacts, conversations, tags, dataAttributes, nextId } = this
    return { token, clientSecret, admin, contacts, conversations, tags, dataAttributes, nextId }
  }
}
