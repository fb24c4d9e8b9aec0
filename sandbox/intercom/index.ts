import type { Macro } from './macros.js'
import { createHmac } from 'node:crypto'
import type { DataConnectors } from './data-connectors.js'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { postWebhook, through, type Delivery, type Fault, type RecordedRequest } from '../http.js'
import { intercomRoutes } from './routes.js'
import {
  contactJson,
  type AdminReply,
  conversationJson,
  IntercomState,
  RATE_LIMIT,
  WORKSPACE,
  type Contact,
  type Conversation,
  type IntercomSaved,
  type Part,
  type Segment,
  type Subscription,
  type SubscriptionType,
  type Tag,
} from './state.js'

// The Intercom stand-in: what a test can do with it, and what Intercom does on its own, posting
// signed webhooks (a teammate's reply, close, reopen) and Canvas Kit requests. The model is in
// state.ts, the REST API in routes.ts.

export type { Contact, Conversation, IntercomSaved, Part, SubscriptionType } from './state.js'

/** The stand-in: what it saves (the workspace's data, live), its address and what it was asked. */
export interface IntercomStandIn extends Omit<IntercomSaved, 'nextId'> {
  url: string
  requests: RecordedRequest[]
  /** Requests that were API calls (not rejected for auth), optionally since an index into `requests`. */
  callsSince(index: number): RecordedRequest[]
  failNext(fault: Fault): void
  /** Newly created or updated contacts stay invisible to search this long. */
  searchLagMs: number
  /**
   * Calls allowed per 10-second window, enforced: past it, 429 rate_limit_exceeded until the window
   * starts again, with X-RateLimit-Limit/Remaining/Reset on every answer. Null (the default): not enforced.
   */
  rateLimit: number | null
  /**
   * The app's version in the Developer Hub (2.14 at first): from 2.15 its webhooks carry part bodies
   * as plain text, inline pictures gone, while the REST API answers HTML.
   */
  appVersion: string
  addContact(c: Partial<Contact> & { role: 'user' | 'lead' }): Contact
  /** The workspace's teams (GET /teams, and what an assignment may name); none at first. */
  teams: Array<{ id: string; name: string }>
  /** A team makes a segment in Intercom's UI holding these contacts (GET /segments; search by segment_id). */
  addSegment(name: string, members?: Contact[]): Segment
  /** A team tags these contacts in Intercom's UI (search by tag_id). */
  tagContacts(name: string, members: Contact[]): Tag
  /** The contact writes in the Messenger: a conversation of theirs (not through the API). */
  addConversation(contactId: string, body: string, atMs?: number): Conversation
  /** The workspace's data connectors (2.16), their executions, and `addExecution` (Intercom ran one). */
  dataConnectors: DataConnectors
  closeConversation(id: string, atMs?: number): void
  /**
   * A teammate merges a lead into a user in Intercom's inbox (the bridge is not told): the lead's
   * conversations become the user's, and its id answers 410 (2.16) or 404 (2.14) from then on.
   */
  mergeContacts(fromId: string, intoId: string): void
  /**
   * A teammate (or bot) writes in the inbox: the part is added and returned, as a webhook would carry
   * it. As in Intercom, a teammate's reply in an unassigned conversation assigns it (an `assignment`
   * part) and one in a closed or snoozed conversation reopens it (an `open` part); `partType` forces one.
   */
  addAdminReply(conversationId: string, reply: AdminReply): Part
  /**
   * A file a teammate uploads, hosted as Intercom hosts uploads: a public link (no credentials) that
   * stops working when it expires, as Intercom's do after about 30 minutes. Returns its URL.
   * `redirectTo`: the link answers 302 to that URL instead (a CDN hop, or an attacker's).
   */
  upload(file: { name: string; contentType: string; data: Buffer; redirectTo?: string }): string
  /** Every upload link expires now (instead of waiting half an hour). */
  expireUploads(): void
  /**
   * The upload host's passing trouble, for the next matching file downloads (`times`, default 1):
   * answer `status` (503...), `hang` (never answer), or `drop` (close the connection unanswered).
   */
  failUpload(fault: Pick<Fault, 'status' | 'hang' | 'times' | 'delayMs'> & { drop?: boolean }): void
  /** Intercom's "Send test" notification, as it really arrives: topic ping, and an id of null. */
  pingNotification(): Record<string, unknown>
  /** The webhook Intercom would send for `topic` with these parts, as the real payload is shaped. */
  notification(topic: string, conversationId: string, parts: Part[]): Record<string, unknown>
  /** The contact.user.created / contact.lead.created webhook for a contact. */
  contactNotification(topic: string, contactId: string): Record<string, unknown>
  /** The teammate deletes the contact: it is removed, and its contact.deleted webhook returned. */
  contactDeletedNotification(contactId: string): Record<string, unknown>
  conversation(id: string): Conversation | undefined
  /** A team creates a subscription type in Intercom's UI (the API cannot): opt-in or opt-out, for email and/or SMS. */
  addSubscriptionType(t: {
    name: string
    consentType: SubscriptionType['consent_type']
    contentTypes: SubscriptionType['content_types']
    state?: SubscriptionType['state']
  }): SubscriptionType
  /**
   * A teammate changes a contact's subscription in its profile: attached with `consent` (an opt-out
   * type's opt_out: unsubscribed), or detached (null).
   */
  setContactSubscription(contactId: string, typeId: string, consent: SubscriptionType['consent_type'] | null): void
  /** The types a contact made an explicit choice about, as GET /contacts/{id}/subscriptions lists them. */
  subscriptionsOf(contactId: string): SubscriptionType[]
  /** The workspace's macros (2.16), seeded with its description's examples: tests add, change or delete them. */
  macros: Macro[]
  /** Teammates and their teams (GET /admins/{id}); the token's admin's teams decide which macros Intercom shows. */
  teammates: Map<string, { name: string; team_ids: string[] }>
  /** The app's webhook subscription (Developer Hub -> Webhooks): where, and which topics. None at first. */
  subscribeWebhooks(subscription: Subscription | null): void
  /**
   * A teammate replies in the inbox: the part is added and `conversation.admin.replied` posted, signed,
   * when subscribed (`via` one origin behind the subscribed URL's load balancer, if given).
   */
  replyAsAdmin(
    conversationId: string,
    reply: { body: string; attachments?: Part['attachments'] },
    via?: string,
  ): Promise<{ part: Part; delivery: Delivery | null }>
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
  postCanvas(
    url: string,
    request: { conversationId: string; componentId?: string; inputValues?: Record<string, unknown>; currentCanvas?: unknown },
  ): Promise<{ delivery: Delivery; canvas: unknown }>
  /** Webhooks and Canvas Kit requests posted, oldest first. */
  deliveries: Delivery[]
  /** Everything needed to start again where this one stands (`saved` option): credentials, admin, data. */
  save(): IntercomSaved
  close(): Promise<void>
}

/** A loopback server that behaves like Intercom's REST API (versions 2.14 and 2.16) for the calls the bridge makes. */
export async function startIntercomStandIn(
  opts: { token?: string; clientSecret?: string; saved?: IntercomSaved } = {},
): Promise<IntercomStandIn> {
  const state = new IntercomState(opts)
  const { token, clientSecret, admin, contacts, conversations, tags, dataAttributes, requests, deliveries } = state

  /** Posts a notification to the subscribed URL as Intercom does: JSON, signed with X-Hub-Signature. */
  async function deliver(topic: string, conversationId: string, parts: Part[], via?: string): Promise<Delivery | null> {
    const subscription = state.subscription
    if (!subscription?.topics.includes(topic)) return null
    const raw = JSON.stringify(standIn.notification(topic, conversationId, parts))
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Intercom-Webhooks',
      'x-hub-signature': signIntercomWebhook(clientSecret, raw),
    }
    return postWebhook(deliveries, topic, through(subscription.url, via), headers, raw)
  }

  const handle = intercomRoutes(state)
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ type: 'error.list', errors: [{ code: 'server_error', message: String(err) }] }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

  const standIn: IntercomStandIn = {
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
    teams: state.teams,
    macros: state.macros,
    teammates: state.teammates,
    get searchLagMs() {
      return state.searchLagMs
    },
    set searchLagMs(ms: number) {
      state.searchLagMs = ms
    },
    get rateLimit() {
      return state.rateLimit
    },
    set rateLimit(limit: number | null) {
      state.rateLimit = limit
      state.remaining = Math.min(state.remaining, limit ?? RATE_LIMIT)
    },
    get appVersion() {
      return state.appVersion
    },
    set appVersion(version: string) {
      state.appVersion = version
    },
    callsSince: (index: number) => requests.slice(index).filter((r) => r.status !== 401),
    failNext: (fault: Fault) => state.faults.add(fault),
    failUpload: (fault) => state.uploadFaults.add({ ...fault, match: { path: /^\/uploads\// } }),
    addContact: (c: Partial<Contact> & { role: 'user' | 'lead' }) => state.addContact(c),
    addSegment: (name: string, members?: Contact[]) => state.addSegment(name, members),
    tagContacts: (name: string, members: Contact[]) => state.tagContacts(name, members),
    addConversation: (contactId: string, body: string, atMs?: number) => state.addConversation(contactId, body, atMs),
    dataConnectors: state.dataConnectors,
    closeConversation: (id: string, atMs?: number) => state.closeConversation(id, atMs),
    mergeContacts: (fromId: string, intoId: string) => state.mergeContact(fromId, intoId),
    conversation: (id: string) => state.conversation(id),
    addSubscriptionType: (t) => state.addSubscriptionType(t),
    setContactSubscription: (contactId, typeId, consent) => state.setContactSubscription(contactId, typeId, consent),
    subscriptionsOf: (contactId) => state.subscriptionsOf(contactId),
    addAdminReply(conversationId: string, reply: AdminReply): Part {
      return state.addAdminReply(conversationId, reply)
    },
    save: () => state.save(),
    subscribeWebhooks(given: Subscription | null) {
      state.subscription = given
    },
    async replyAsAdmin(conversationId: string, reply: { body: string; attachments?: Part['attachments'] }, via?: string) {
      const part = standIn.addAdminReply(conversationId, {
        body: reply.body,
        ...(reply.attachments ? { attachments: reply.attachments } : {}),
      })
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
    upload: (file: { name: string; contentType: string; data: Buffer; redirectTo?: string }) => `${standIn.url}${state.addUpload(file)}`,
    expireUploads: () => state.expireUploads(),
    pingNotification: () => state.pingNotification(),
    async postCanvas(
      url: string,
      r: { conversationId: string; componentId?: string; inputValues?: Record<string, unknown>; currentCanvas?: unknown },
    ) {
      const conversation = standIn.conversation(r.conversationId)!
      const contact = state.findContact(conversation.contacts[0]!.id)!
      const body = {
        workspace_id: WORKSPACE,
        workspace_region: 'us',
        admin: { type: 'admin', ...admin },
        conversation: conversationJson(conversation),
        contact: contactJson(contact),
        customer: contactJson(contact),
        context: { conversation_id: Number(conversation.id), location: 'inbox', locale: 'en' },
        ...(r.componentId
          ? { component_id: r.componentId, input_values: r.inputValues ?? {}, current_canvas: r.currentCanvas ?? null }
          : {}),
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
    contactNotification: (topic: string, contactId: string) => state.contactNotification(topic, contactId),
    contactDeletedNotification: (contactId: string) => state.contactDeletedNotification(contactId),
    notification: (topic: string, conversationId: string, parts: Part[]) => state.notification(topic, conversationId, parts),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return standIn
}

/** `X-Hub-Signature` as Intercom sends it with webhooks. */
export function signIntercomWebhook(clientSecret: string, rawBody: string): string {
  return `sha1=${createHmac('sha1', clientSecret).update(rawBody).digest('hex')}`
}

/** `X-Body-Signature` as Intercom sends it with Canvas Kit requests. */
export function signCanvas(clientSecret: string, rawBody: string): string {
  return createHmac('sha256', clientSecret).update(rawBody).digest('hex')
}
