import { IntercomClient, IntercomError, IntercomTimeoutError, type Intercom } from 'intercom-client'
import { getCached, setCached } from '../../shared/db/cache.js'
import type { Store } from '../../shared/db/database.js'
import { UpstreamError } from '../../shared/errors.js'
import { phoneSearchVariants } from '../../shared/phone.js'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import { downloadWhole } from './download.js'
import { readRateHeaders, type RatePacer, type RateNews } from './pacer.js'
import { currentLane } from '../queue/lanes.js'
import { apiHost, networkCode } from './reachability.js'

/**
 * The Intercom API version every request pins; the bridge is written against it. 2.16, not the 2.14
 * that intercom-client 7 defaults to and types: on 2.16 a merged contact answers 410 with a Link to
 * the one it became, and the REST API gives a part's body as HTML (with teammates' inline pictures)
 * whatever version the app's webhooks are set to. Every request the bridge makes is valid on 2.16
 * (the Intercom stand-in checks them against its description), and every 2.16 shape it reads is read
 * leniently: the SDK's 2.14 types are the only thing that stops at 2.14, and it validates nothing.
 */
export const INTERCOM_API_VERSION = '2.16'

type IntercomVersion = NonNullable<ConstructorParameters<typeof IntercomClient>[0]>['version']

/** The official SDK with its retries off: the job queue owns retries (and waits out 429 resets). */
export function createIntercomClient(config: Pick<Config['intercom'], 'accessToken' | 'apiBaseUrl'>, metrics?: Metrics): IntercomClient {
  const base = sayWhyFetchFailed(fetch)
  return new IntercomClient({
    fetch: metrics ? metrics.instrumentedFetch('intercom', base) : base,
    token: config.accessToken,
    baseUrl: config.apiBaseUrl,
    // Sent as the Intercom-Version header as it is; the SDK's type lists versions up to 2.14 only.
    version: INTERCOM_API_VERSION as unknown as IntercomVersion,
    maxRetries: 0,
    timeoutInSeconds: 10,
  })
}

/** How `sayWhyFetchFailed` words a failed fetch, and how `intercomFailure` reads it back. */
const FETCH_FAILED = /^fetch failed \(([A-Z][A-Z0-9_]+)\)$/

/**
 * The SDK keeps only the message of a failed fetch ("fetch failed"), dropping the cause that says
 * why; its own timeout aborts the fetch with the string "timeout" and then reports '"timeout"'. A
 * failed fetch is thrown again with Node's code in its message ("fetch failed (ECONNRESET)"), the
 * one thing that crosses the SDK, so logs and `doctor` can name it.
 */
export function sayWhyFetchFailed(base: typeof fetch): typeof fetch {
  return async (input, init) => {
    try {
      return await base(input, init)
    } catch (err) {
      // Nobody else aborts the SDK's requests: an aborted one timed out.
      const code = init?.signal?.aborted ? 'ETIMEDOUT' : networkCode(err)
      if (code) throw new TypeError(`fetch failed (${code})`, { cause: err })
      // No code: fetch refused the request itself (a "bad port" such as 9, a malformed URL).
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined
      if (cause) throw new TypeError(`${err instanceof Error ? err.message : 'fetch failed'}: ${cause}`, { cause: err })
      throw err
    }
  }
}

function describeBody(body: unknown): string {
  const errors = (body as { errors?: Array<{ code?: string; message?: string }> })?.errors
  if (Array.isArray(errors) && errors.length > 0) return errors.map((e) => `${e.code}: ${e.message}`).join('; ')
  return JSON.stringify(body)?.slice(0, 300) ?? 'no details'
}

/** Where the SDK's answers come from, as the outage lines and `doctor` name it. */
export function intercomHost(config: Pick<Config['intercom'], 'apiBaseUrl'>): string {
  return apiHost(config.apiBaseUrl)
}

/**
 * Classifies an Intercom failure (the SDK's IntercomError and IntercomTimeoutError) for the job
 * layer. `host` (see `intercomHost`) is named when nothing answered.
 */
export function intercomFailure(err: unknown, what: string, host: string, now = Date.now()): UpstreamError {
  if (err instanceof UpstreamError) return err
  if (err instanceof IntercomTimeoutError)
    return new UpstreamError('intercom', 'retry', `Intercom timed out (${host}) while trying to ${what}`, {
      unreachable: { code: 'ETIMEDOUT', host },
      cause: err,
    })
  if (!(err instanceof IntercomError) || err.statusCode === undefined) {
    const code = FETCH_FAILED.exec((err as Error)?.message ?? '')?.[1]
    const why = code ? `${code} at ${host}` : `${(err as Error)?.message ?? err}`
    return new UpstreamError('intercom', 'retry', `Intercom could not be reached to ${what}: ${why}`, {
      ...(code ? { unreachable: { code, host } } : {}),
      cause: err,
    })
  }
  const status = err.statusCode
  if (status === 429) {
    const reset = Number(err.rawResponse?.headers.get('x-ratelimit-reset'))
    const waitMs = Number.isFinite(reset) && reset > 0 ? reset * 1000 - now : 10_000
    return new UpstreamError('intercom', 'wait', `Intercom rate limit reached while trying to ${what}`, {
      status,
      waitMs: Math.min(Math.max(waitMs, 1_000), 120_000),
      cause: err,
    })
  }
  const mergedInto = status === 410 ? canonicalContact(err.rawResponse?.headers.get('link')) : undefined
  if (mergedInto) {
    return new UpstreamError('intercom', 'merged', `Intercom merged the contact into ${mergedInto} (410) while trying to ${what}`, {
      status,
      mergedInto,
      cause: err,
    })
  }
  if (status >= 500 || status === 408)
    return new UpstreamError('intercom', 'retry', `Intercom answered ${status} while trying to ${what}`, { status, cause: err })
  return new UpstreamError('intercom', 'give_up', `Intercom refused to ${what} (${status}): ${describeBody(err.body)}`, {
    status,
    cause: err,
  })
}

/**
 * The surviving contact's id from 2.16's `Link: </contacts/{id}>; rel="canonical"` on a merged
 * contact's 410 (the target may come as a full URL): undefined when there is no such link.
 */
export function canonicalContact(link: string | null | undefined): string | undefined {
  for (const part of (link ?? '').split(',')) {
    const m = /<[^>]*\/contacts\/([\w-]+)\/?>\s*;(?:[^;]*;)*\s*rel="?canonical"?/i.exec(part)
    if (m) return m[1]
  }
  return undefined
}

/** A custom contact attribute: its name, type and the description Intercom shows the team. */
/** A segment or tag a broadcast may go to. */
export interface AudienceChoice {
  id: string
  name: string
}

/** Contacts per audience page: Intercom's search allows 150; a page is one transaction of recipients. */
export const AUDIENCE_PAGE = 100

export interface ContactAttribute {
  name: string
  dataType: 'string' | 'boolean' | 'date' | 'integer'
  description: string
}

/** An SDK call as the adapter makes it: the SDK's promise (most can give the raw answer too; a page carries it). */
type SdkCall<T> = () => Promise<T>
type Raw = { rawResponse?: { headers?: Pick<Headers, 'get'> } }
type WithRaw<T> = Promise<T> & { withRawResponse?: () => Promise<{ data: T } & Raw> }

/** The answer's data and its X-RateLimit window, from the SDK's raw answer or a page's. */
async function withRateNews<T>(answer: WithRaw<T>): Promise<{ data: T; window: RateNews | null }> {
  const { data, rawResponse } = answer.withRawResponse ? await answer.withRawResponse() : { data: await answer, rawResponse: undefined }
  return { data, window: readRateHeaders((rawResponse ?? (data as Raw | null)?.rawResponse)?.headers) }
}

/** Where a contact is: found, merged into another (2.16's 410 names it), or gone (404: deleted, or merged on 2.14). */
export type ContactWhereabouts = { kind: 'found'; contact: Intercom.Contact } | { kind: 'merged'; into: string } | { kind: 'gone' }

/** A macro as the bridge reads it (2.16's `macro`): plain text with Intercom placeholders, and who may use it. */
export interface Macro {
  id: string
  name: string
  bodyText: string | null
  visibleTo: 'everyone' | 'specific_teams'
  teamIds: string[]
  /** Where Intercom offers it (inbox, messenger); empty when not said. */
  availableOn: string[]
}

/** The most pages of 150 macros read (GET /macros): 3,000 macros. */
export const MACRO_PAGES = 20

/** 2.16's macro, read leniently: one without an id or name is skipped; an unknown visibility is nobody's. */
function macroOf(m: Intercom.unstable.Macro): Macro | null {
  if (!m.id || !m.name) return null
  return {
    id: String(m.id),
    name: m.name,
    bodyText: typeof m.body_text === 'string' ? m.body_text : null,
    visibleTo: m.visible_to === 'everyone' ? 'everyone' : 'specific_teams',
    teamIds: (m.visible_to_team_ids ?? []).map(String),
    availableOn: (m.available_on ?? []).map(String),
  }
}

/** The workspace's SMS subscription type: made in Intercom's UI, opt-out (unsubscribe to stop) or opt-in. */
export interface SmsSubscriptionType {
  id: string
  name: string
  consentType: 'opt_in' | 'opt_out'
}

/** The live type whose content types include SMS (the first, when a team made several), or null. */
export function pickSmsSubscriptionType(types: readonly Intercom.SubscriptionType[]): SmsSubscriptionType | null {
  const found = types.find((t) => t.id && t.consent_type && t.state === 'live' && t.content_types?.includes('sms_message'))
  if (!found?.id || !found.consent_type) return null
  return { id: found.id, name: found.default_translation?.name ?? found.id, consentType: found.consent_type }
}

/** How long the answer to "which SMS subscription type?" is kept before Intercom is asked again. */
export const SUBSCRIPTION_TYPE_TTL_MS = 60 * 60 * 1000
const SUBSCRIPTION_TYPE_KEY = 'intercom.sms_subscription_type'
const OFFICE_HOURS_KEY = 'intercom.office_hours'

/** An office hours schedule as 2.16 gives it (`office_hours_schedule`): minutes from Monday 00:00. */
export interface OfficeHoursSchedule {
  id: string
  name?: string
  time_zone_name?: string
  time_intervals?: Array<{ start_minute: number; end_minute: number; day_of_week?: number }>
  twenty_four_seven?: boolean
}

/** A customer's words and pictures, posted as them. */
export interface CustomerPart {
  conversationId: string
  contactId: string
  body: string
  /** Seconds: the text's own time, so a late delivery keeps its place. */
  createdAt: number
  attachments: string[]
  /** The quick-reply button the text chose, posted as the contact's `reply_options` selection. */
  choice?: { text: string; uuid: string }
}

/**
 * The Intercom adapter: every call the bridge makes to Intercom, each failure classified (see
 * `intercomFailure`), and the facts learned once (admin, workspace, tag, attributes) kept in the
 * database's small cache. "Not found" is an answer, not a failure, where the bridge acts on it.
 */
export class IntercomApi {
  /** Lookups under way, so callers that ask at once share one request. */
  private readonly learning = new Map<string, Promise<string>>()
  /** Contact attributes known to exist (created, or found in the cache) since this process started. */
  private readonly attributes = new Set<string>()

  /** Times and counts the downloads as the SDK's calls are (see createIntercomClient). */
  private readonly metrics: Metrics | undefined
  /** Spends the rate limit evenly, replies first (none: calls are not held). */
  private readonly pacer: RatePacer | undefined

  constructor(
    readonly sdk: IntercomClient,
    private readonly config: Pick<Config, 'intercom' | 'workspaceId' | 'smsTag'>,
    private readonly store: Store,
    extras: { metrics?: Metrics | undefined; pacer?: RatePacer | undefined } = {},
  ) {
    this.metrics = extras.metrics
    this.pacer = extras.pacer
  }

  private async call<T>(what: string, fn: SdkCall<T>): Promise<T> {
    try {
      return await this.paced(fn)
    } catch (err) {
      throw intercomFailure(err, what, intercomHost(this.config.intercom))
    }
  }

  /**
   * One SDK call in its turn (the pacer's: a job's calls in its lane, a request's as a reply), its
   * X-RateLimit headers read from whatever it answered. Every Intercom call goes through here.
   */
  private async paced<T>(fn: SdkCall<T>): Promise<T> {
    const pacer = this.pacer
    if (!pacer) return fn()
    await pacer.acquire(currentLane() ?? 'reply')
    let window: RateNews | null = null
    try {
      const answer = await withRateNews(fn())
      window = answer.window
      return answer.data
    } catch (err) {
      window = err instanceof IntercomError ? readRateHeaders(err.rawResponse?.headers) : null
      throw err
    } finally {
      pacer.settle(window)
    }
  }

  /** The call's answer, or null when Intercom says there is no such thing (404). */
  private async orNull<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await this.call(what, fn)
    } catch (err) {
      if (err instanceof UpstreamError && err.notFound) return null
      throw err
    }
  }

  /** Contacts whose phone is stored in any of the forms people write it in. */
  async searchContactsByPhone(e164: string): Promise<Intercom.Contact[]> {
    const variants = phoneSearchVariants(e164)
    const page = await this.call('search contacts by phone', () =>
      this.sdk.contacts.search({
        query: { operator: 'OR', value: variants.map((value) => ({ field: 'phone', operator: '=', value })) },
        pagination: { per_page: 50 },
      }),
    )
    return page.data
  }

  /**
   * Creates a lead with this phone; a 409 naming an existing contact means that contact is ours. A
   * short code or sender id is not a phone number Intercom accepts, so it becomes the lead's name.
   */
  async createLead(phone: string): Promise<{ id: string; role: string | null; created: boolean }> {
    try {
      const created = await this.paced(() =>
        this.sdk.contacts.create(phone.startsWith('+') ? { role: 'lead', phone } : { role: 'lead', name: `SMS sender ${phone}` }),
      )
      return { id: created.id, role: created.role ?? 'lead', created: true }
    } catch (err) {
      if (err instanceof IntercomError && err.statusCode === 409) {
        const id = /id=([\w-]+)/.exec(describeBody(err.body))?.[1]
        if (id) return { id, role: null, created: false }
      }
      throw intercomFailure(err, 'create a contact', intercomHost(this.config.intercom))
    }
  }

  /** The workspace's segments (GET /segments) and tags (GET /tags): what a broadcast may go to. */
  async audiences(): Promise<{ segments: AudienceChoice[]; tags: AudienceChoice[] }> {
    const segments = await this.call('list segments', () => this.sdk.segments.list())
    const tags = await this.call('list tags', () => this.sdk.tags.list())
    return {
      segments: (segments.segments ?? []).map((s) => ({ id: s.id ?? '', name: s.name ?? '' })).filter((s) => s.id),
      tags: (tags.data ?? []).map((t) => ({ id: t.id, name: t.name })),
    }
  }

  /**
   * One page of a segment's or tag's contacts: POST /contacts/search on `segment_id` / `tag_id`
   * (both take `=`), `starting_after` from the page before; `next` is null on the last page.
   */
  async audiencePage(
    audience: { field: 'segment_id' | 'tag_id'; id: string },
    cursor: string | null,
    perPage = AUDIENCE_PAGE,
  ): Promise<{ contacts: Intercom.Contact[]; next: string | null }> {
    const page = await this.call(`list the contacts of ${audience.field.replace('_id', '')} ${audience.id}`, () =>
      this.sdk.contacts.search({
        query: { field: audience.field, operator: '=', value: audience.id },
        pagination: { per_page: perPage, ...(cursor ? { starting_after: cursor } : {}) },
      }),
    )
    return { contacts: page.data, next: page.response.pages?.next?.starting_after ?? null }
  }

  /** The contact, or null when it no longer exists (deleted, or merged into another). */
  async findContact(contactId: string): Promise<Intercom.Contact | null> {
    const at = await this.locateContact(contactId)
    return at.kind === 'found' ? at.contact : null
  }

  /** Where the contact is: GET /contacts/{id}, its 410 and 404 read as answers. */
  async locateContact(contactId: string): Promise<ContactWhereabouts> {
    try {
      return { kind: 'found', contact: await this.call('read the contact', () => this.sdk.contacts.find({ contact_id: contactId })) }
    } catch (err) {
      if (err instanceof UpstreamError && err.details.mergedInto) return { kind: 'merged', into: err.details.mergedInto }
      if (err instanceof UpstreamError && err.notFound) return { kind: 'gone' }
      throw err
    }
  }

  async updateContact(
    contactId: string,
    update: { phone?: string; customAttributes?: Record<string, string | number | boolean | null> },
    what = 'update the contact',
  ): Promise<void> {
    await this.call(what, () =>
      this.sdk.contacts.update({
        contact_id: contactId,
        ...(update.phone ? { phone: update.phone } : {}),
        ...(update.customAttributes ? { custom_attributes: update.customAttributes } : {}),
      }),
    )
  }

  /** Makes sure a custom contact attribute exists before it is written (Intercom refuses unknown ones). */
  async ensureContactAttribute({ name, dataType, description }: ContactAttribute): Promise<void> {
    const key = `intercom.attribute.contact.${name}`
    // Known to this process: no read at all (it is asked before every attribute write).
    if (this.attributes.has(name)) return
    if (await getCached(this.store.db, key)) return void this.attributes.add(name)
    try {
      // The SDK's generated type drops the spec's `name`, `model` and `description` (lost in its oneOf).
      const request = { name, model: 'contact', data_type: dataType, description } as Intercom.CreateDataAttributeRequest
      await this.paced(() => this.sdk.dataAttributes.create(request))
    } catch (err) {
      // 400 when it already exists ("You already have 'x' in your data..."): all we wanted to know.
      if (!(err instanceof IntercomError && err.statusCode === 400 && /already (exists|have)|taken/i.test(describeBody(err.body)))) {
        throw intercomFailure(err, `create the contact attribute ${name}`, intercomHost(this.config.intercom))
      }
    }
    await this.store.run(setCached(key, '1'))
    this.attributes.add(name)
  }

  /** A fact asked of Intercom once, then kept in the cache; callers asking meanwhile share the request. */
  private learnOnce(key: string, ask: () => Promise<string>): Promise<string> {
    const under = this.learning.get(key)
    if (under) return under
    const learned = (async () => {
      const cached = await getCached(this.store.db, key)
      if (cached) return cached
      const value = await ask()
      await this.store.run(setCached(key, value))
      return value
    })().finally(() => this.learning.delete(key))
    this.learning.set(key, learned)
    return learned
  }

  /**
   * The workspace's SMS subscription type, or null when it has none. Kept in the cache for an hour,
   * found or not: a type made (or archived) in Intercom's UI meanwhile is seen within the hour.
   */
  async smsSubscriptionType(now = Date.now()): Promise<SmsSubscriptionType | null> {
    const cached = JSON.parse((await getCached(this.store.db, SUBSCRIPTION_TYPE_KEY)) ?? 'null') as {
      type: SmsSubscriptionType | null
      checkedAt: number
    } | null
    if (cached && now - cached.checkedAt < SUBSCRIPTION_TYPE_TTL_MS) return cached.type
    const list = await this.call('list the subscription types', () => this.sdk.subscriptionTypes.list())
    const type = pickSmsSubscriptionType(list.data ?? [])
    await this.store.run(setCached(SUBSCRIPTION_TYPE_KEY, JSON.stringify({ type, checkedAt: now }), now))
    return type
  }

  /**
   * Shows an opt-out (or its reversal) on the contact's SMS subscription: an opt-out type is attached
   * as opt_out (unsubscribed) and detached again; an opt-in type is detached and attached again as
   * opt_in. Returns the type, or null when the workspace has none. Safe to repeat.
   */
  async setSmsSubscription(contactId: string, optedOut: boolean): Promise<SmsSubscriptionType | null> {
    const type = await this.smsSubscriptionType()
    if (!type) return null
    const subscribe = (type.consentType === 'opt_out') === optedOut
    if (subscribe) {
      const attached = await this.orNull('attach the SMS subscription', () =>
        this.sdk.contacts.attachSubscription({ contact_id: contactId, id: type.id, consent_type: type.consentType }),
      )
      // The contact answered a moment ago: the type is gone (archived or deleted since it was cached).
      // Forget it; the retry asks Intercom again, and finds another type or none. (No status on the
      // error: a 404 would read as a missing contact to onLinkedContact.)
      if (!attached) {
        await this.store.run(setCached(SUBSCRIPTION_TYPE_KEY, 'null'))
        throw new UpstreamError('intercom', 'retry', `Intercom no longer knows the SMS subscription type "${type.name}" (404)`)
      }
    } else {
      // Detaching what is not attached is already the state asked for.
      await this.orNull('detach the SMS subscription', () =>
        this.sdk.contacts.detachSubscription({ contact_id: contactId, subscription_id: type.id }),
      )
    }
    return type
  }

  /**
   * Whether the contact is unsubscribed from the workspace's SMS subscription type in Intercom (a
   * teammate's click in its profile, or our opt-out): attached to an opt-out type. Intercom lists
   * only explicit choices, so a contact not attached to an opt-in type reads as not unsubscribed:
   * "never chose" and "unsubscribed" look the same there.
   */
  async smsUnsubscribed(contactId: string): Promise<SmsSubscriptionType | null> {
    const type = await this.smsSubscriptionType()
    if (!type) return null
    const list = await this.call("read the contact's subscriptions", () =>
      this.sdk.contacts.listAttachedSubscriptions({ contact_id: contactId }),
    )
    const chosen = (list.data ?? []).find((t) => t.id === type.id)
    return chosen?.consent_type === 'opt_out' ? type : null
  }

  /**
   * The workspace's office hours (GET /office_hours_schedules, 2.16): the first schedule, or null when
   * there is none. Kept in the cache for an hour, like the subscription type: teams change them in the UI.
   * intercom-client 7 has no Office Hours resource (it types 2.14), so this one call is made directly,
   * with the SDK's token, base URL, version and fetch, its failures classified like every other.
   */
  async officeHours(now = Date.now()): Promise<OfficeHoursSchedule | null> {
    const cached = JSON.parse((await getCached(this.store.db, OFFICE_HOURS_KEY)) ?? 'null') as {
      schedule: OfficeHoursSchedule | null
      checkedAt: number
    } | null
    if (cached && now - cached.checkedAt < SUBSCRIPTION_TYPE_TTL_MS) return cached.schedule
    const list = await this.call('list the office hours schedules', () =>
      this.getJson<{ data?: OfficeHoursSchedule[] }>('/office_hours_schedules'),
    )
    const schedule = list.data?.[0] ?? null
    await this.store.run(setCached(OFFICE_HOURS_KEY, JSON.stringify({ schedule, checkedAt: now }), now))
    return schedule
  }

  /** A GET the SDK has no method for: its failures are the SDK's IntercomError, read as `call` reads them. */
  private async getJson<T>(path: string): Promise<T> {
    const base = sayWhyFetchFailed(this.metrics ? this.metrics.instrumentedFetch('intercom', fetch) : fetch)
    const res = await base(new URL(path, this.config.intercom.apiBaseUrl), {
      headers: {
        authorization: `Bearer ${this.config.intercom.accessToken}`,
        accept: 'application/json',
        'intercom-version': INTERCOM_API_VERSION,
      },
      signal: AbortSignal.timeout(10_000),
    })
    const text = await res.text()
    const body: unknown = text ? JSON.parse(text) : null
    if (!res.ok) throw new IntercomError({ statusCode: res.status, body, rawResponse: { headers: res.headers } as never })
    return body as T
  }

  /** The admin that notes and tags are made as: configured, else the token's owner (asked once). */
  async adminId(): Promise<string> {
    if (this.config.intercom.adminId) return this.config.intercom.adminId
    return this.learnOnce('intercom.admin_id', async () => {
      const me = await this.call('identify the admin (GET /me)', () => this.sdk.admins.identify())
      if (!me?.id)
        throw new UpstreamError('intercom', 'give_up', 'Intercom did not say which admin owns the access token; set INTERCOM_ADMIN_ID')
      return me.id
    })
  }

  /**
   * Our workspace's id, which Canvas Kit requests must name: configured, else asked once of GET /me
   * (the token's app) and cached. Intercom signs requests for the app, whichever workspace sent them.
   */
  async workspaceId(): Promise<string> {
    if (this.config.workspaceId) return this.config.workspaceId
    return this.learnOnce('intercom.workspace_id', async () => {
      const me = await this.call('identify the workspace (GET /me)', () => this.sdk.admins.identify())
      const id = me?.app?.id_code
      if (!id)
        throw new UpstreamError(
          'intercom',
          'give_up',
          'Intercom did not say which workspace owns the access token; set INTERCOM_WORKSPACE_ID',
        )
      return id
    })
  }

  /**
   * The workspace's macros Intercom shows the token's admin (GET /macros, 2.16), newest first, every
   * page up to MACRO_PAGES (each of 150). `body_text` may be null in a long list: `getMacro` has it.
   */
  async listMacros(): Promise<Macro[]> {
    const macros: Macro[] = []
    let startingAfter: string | undefined
    for (let page = 0; page < MACRO_PAGES; page++) {
      const list = await this.call('list macros (GET /macros)', () =>
        this.sdk.unstable.macros.listMacros({ per_page: 150, ...(startingAfter ? { starting_after: startingAfter } : {}) }),
      )
      macros.push(...(list.data ?? []).flatMap((m) => (m && macroOf(m)) || []))
      startingAfter = list.pages?.next?.starting_after ?? undefined
      if (!startingAfter) break
    }
    return macros
  }

  /** One macro (GET /macros/{id}), or null when it is gone or hidden from the token's admin (404). */
  async getMacro(id: string): Promise<Macro | null> {
    const macro = await this.orNull(`read macro ${id} (GET /macros/{id})`, () => this.sdk.unstable.macros.getMacro({ id }))
    return macro ? macroOf(macro) : null
  }

  /** The teams a teammate is in (GET /admins/{id}'s team_ids), or null when there is no such admin. */
  async teamIdsOf(adminId: string): Promise<string[] | null> {
    // Admin ids are numbers in the description's path (a Canvas Kit request names them as strings).
    if (!/^\d{1,18}$/.test(adminId)) return null
    const admin = await this.orNull(`read admin ${adminId} (GET /admins/{id})`, () => this.sdk.admins.find({ admin_id: Number(adminId) }))
    if (!admin) return null
    return ((admin as { team_ids?: unknown }).team_ids as unknown[] | undefined)?.map(String) ?? []
  }

  /** The SMS tag's id: created if missing (POST /tags finds or creates by name), then cached. */
  smsTagId(): Promise<string> {
    return this.tagId(this.config.smsTag)
  }

  /** A tag's id by name: created if missing (POST /tags finds or creates by name), then cached. */
  private tagId(name: string): Promise<string> {
    return this.learnOnce(`intercom.tag.${name}`, async () => {
      const tag = await this.call(`find or create the "${name}" tag`, () => this.sdk.tags.create({ name }))
      return tag.id
    })
  }

  /** Tags a conversation with SMS_TAG, or with the tag named. Tagging twice is harmless. */
  async tagConversation(conversationId: string, name = this.config.smsTag): Promise<void> {
    const [tag, admin] = [await this.tagId(name), await this.adminId()]
    await this.call('tag the conversation', () =>
      this.sdk.tags.tagConversation({ conversation_id: conversationId, id: tag, admin_id: admin }),
    )
  }

  /**
   * Assigns a conversation to a team or a teammate (POST /conversations/{id}/parts, message_type
   * assignment): a conversation can have both, one call each.
   */
  async assignConversation(conversationId: string, to: { type: 'team' | 'admin'; id: string }): Promise<void> {
    const admin = await this.adminId()
    await this.call(`assign the conversation to the ${to.type === 'team' ? 'team' : 'teammate'}`, () =>
      this.sdk.conversations.manage({
        conversation_id: conversationId,
        body: { message_type: 'assignment', type: to.type, admin_id: admin, assignee_id: to.id },
      }),
    )
  }

  /** The workspace's team ids (GET /teams) and teammate ids (GET /admins), for `doctor`. */
  async assigneeIds(): Promise<{ teams: Set<string>; admins: Set<string> }> {
    const teams = await this.call('list the teams (GET /teams)', () => this.sdk.teams.list())
    const admins = await this.call('list the teammates (GET /admins)', () => this.sdk.admins.list())
    return {
      teams: new Set((teams.teams ?? []).map((t) => String(t.id))),
      admins: new Set((admins.admins ?? []).filter((a) => a !== undefined && a !== null).map((a) => String(a.id))),
    }
  }

  /** A note in a conversation, for the team only. */
  async addNote(conversationId: string, html: string): Promise<void> {
    const admin = await this.adminId()
    await this.call('add a note to the conversation', () =>
      this.sdk.conversations.reply({
        conversation_id: conversationId,
        body: { message_type: 'note', type: 'admin', admin_id: admin, body: html },
      }),
    )
  }

  /** The conversation, or null when it is gone. */
  findConversation(conversationId: string): Promise<Intercom.Conversation | null> {
    return this.orNull('read the conversation', () => this.sdk.conversations.find({ conversation_id: conversationId }))
  }

  /**
   * Posts a customer's words as them; a customer reply reopens a closed conversation for the team.
   * Null when the conversation is gone.
   */
  replyAsContact(part: CustomerPart): Promise<Intercom.Conversation | null> {
    return this.orNull('add the text to the conversation', () =>
      this.sdk.conversations.reply({
        conversation_id: part.conversationId,
        body: {
          message_type: 'comment',
          type: 'user',
          intercom_user_id: part.contactId,
          body: part.body,
          created_at: part.createdAt,
          ...(part.attachments.length ? { attachment_urls: part.attachments } : {}),
          ...(part.choice ? { reply_options: [part.choice] } : {}),
        },
      }),
    )
  }

  /** Conversations this contact started on the day of `createdAt` (Intercom matches dates by whole day). */
  async conversationsStartedOn(contactId: string, createdAt: number): Promise<Intercom.Conversation[]> {
    const page = await this.call('look for a conversation already started', () =>
      this.sdk.conversations.search({
        query: {
          operator: 'AND',
          value: [
            { field: 'contact_ids', operator: '=', value: contactId },
            { field: 'created_at', operator: '=', value: createdAt },
          ],
        },
      }),
    )
    return page.data
  }

  /** The contact's conversations, as Intercom's search gives them (the first page is plenty: the bridge opens one at a time). */
  async conversationsOf(contactId: string): Promise<Intercom.Conversation[]> {
    const page = await this.call("look for the contact's conversations", () =>
      this.sdk.conversations.search({ query: { field: 'contact_ids', operator: '=', value: contactId }, pagination: { per_page: 50 } }),
    )
    return page.data
  }

  /** Merges a lead into a user (POST /contacts/merge): the lead's conversations become the user's. */
  async mergeContacts(from: string, into: string): Promise<void> {
    await this.call('merge the lead into the user', () => this.sdk.contacts.mergeLeadInUser({ from, into }))
  }

  /** Opens a conversation from the contact with their first text (and its pictures, as one part). */
  async startConversation(
    from: { role: string | null; id: string },
    body: string,
    createdAt: number,
    attachments: string[],
  ): Promise<{ messageId: string; conversationId: string }> {
    const created = await this.call('start a conversation', () =>
      this.sdk.conversations.create({
        from: { type: from.role === 'user' ? 'user' : 'lead', id: from.id },
        body,
        created_at: createdAt,
        // In the 2.14 reference (not yet in the SDK's types): the text and its pictures open the
        // conversation as one part, as they arrived on the phone.
        ...(attachments.length ? { attachment_urls: attachments } : {}),
      }),
    )
    return { messageId: created.id, conversationId: created.conversation_id ?? created.id }
  }

  /** PUT /conversations/{id} {"read": true}. */
  async markRead(conversationId: string): Promise<void> {
    await this.call('mark the conversation read', () => this.sdk.conversations.update({ conversation_id: conversationId, read: true }))
  }

  /**
   * Whether a link is one of Intercom's upload URLs (teammates' pictures and files), which expire
   * about half an hour after the webhook. The Intercom API's own origin counts too (a proxy, the
   * tests' stand-in). Other links (a picture on the team's own site) do not expire.
   */
  isUpload(url: string): boolean {
    const parsed = URL.canParse(url) ? new URL(url) : null
    if (!parsed) return false
    if (parsed.origin === new URL(this.config.intercom.apiBaseUrl).origin) return true
    if (parsed.protocol !== 'https:') return false
    return /(^|\.)(intercomcdn\.com|intercomcdn\.eu|intercomusercontent\.com|intercom-attachments(-\d+)?\.com)$/.test(parsed.hostname)
  }

  /**
   * Downloads a teammate's upload whole, capped at 5 MB, timed and classified like every call (see
   * `downloadWhole`): Intercom's upload hosts (`isUpload`) on every hop, public addresses only.
   */
  downloadUpload(url: string): Promise<{ contentType: string; bytes: Uint8Array }> {
    return downloadWhole(new URL(url), {
      api: 'intercom',
      from: 'Intercom',
      allowed: (hop) => this.isUpload(hop.href),
      trustedOrigin: new URL(this.config.intercom.apiBaseUrl).origin,
      fetch: this.metrics ? this.metrics.instrumentedFetch('intercom') : fetch,
    })
  }
}

/** How long an Intercom upload link works after the webhook that carried it, when the link does not say. */
export const UPLOAD_LINK_LIFETIME_MS = 30 * 60_000

/**
 * Until when an Intercom upload link works: its own `expires` (Unix seconds, as
 * downloads.intercomcdn.com links carry it, signed), else about half an hour after `receivedAt`.
 */
export function uploadLinkExpiresAt(url: string, receivedAt: number): number {
  const expires = URL.canParse(url) ? new URL(url).searchParams.get('expires') : null
  const seconds = expires && /^\d{9,12}$/.test(expires) ? Number(expires) : null
  return seconds !== null ? seconds * 1000 : receivedAt + UPLOAD_LINK_LIFETIME_MS
}
