import { IntercomError, IntercomTimeoutError, type Intercom } from 'intercom-client'
import { getCached, setCached } from '../../shared/db/cache.js'
import { PermanentError, RetryLaterError } from '../../shared/errors.js'
import { phoneSearchVariants } from '../../shared/phone.js'
import type { BridgeDeps } from './deps.js'

/** Turns an Intercom failure into what the job queue should do with it. */
export function toJobError(err: unknown, what: string): Error {
  if (err instanceof IntercomTimeoutError) return new Error(`Intercom timed out while trying to ${what}`, { cause: err })
  if (!(err instanceof IntercomError) || err.statusCode === undefined) {
    return new Error(`Intercom could not be reached to ${what}: ${(err as Error)?.message ?? err}`, { cause: err })
  }
  const status = err.statusCode
  if (status === 429) {
    const reset = Number(err.rawResponse?.headers.get('x-ratelimit-reset'))
    const wait = Number.isFinite(reset) && reset > 0 ? reset * 1000 - Date.now() : 10_000
    return new RetryLaterError(Math.min(Math.max(wait, 1_000), 120_000), `Intercom rate limit reached while trying to ${what}`, { cause: err })
  }
  if (status >= 500 || status === 408) return new Error(`Intercom answered ${status} while trying to ${what}`, { cause: err })
  return new PermanentError(`Intercom refused to ${what} (${status}): ${describeBody(err.body)}`, { cause: err })
}

function describeBody(body: unknown): string {
  const errors = (body as { errors?: Array<{ code?: string; message?: string }> })?.errors
  if (Array.isArray(errors) && errors.length > 0) return errors.map((e) => `${e.code}: ${e.message}`).join('; ')
  return JSON.stringify(body)?.slice(0, 300) ?? 'no details'
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw toJobError(err, what)
  }
}

export function isNotFound(err: unknown): boolean {
  return (err as { cause?: unknown })?.cause instanceof IntercomError && ((err as Error).cause as IntercomError).statusCode === 404
}

export interface ResolvedContact {
  id: string
  role: string | null
  createdByBridge: boolean
}

/**
 * Rule for several contacts sharing a number: a user (someone the team identified) beats a lead;
 * then the most recently updated one, the one a teammate most likely works with; then the oldest.
 */
export function pickContact(contacts: Intercom.Contact[]): Intercom.Contact | undefined {
  return [...contacts].sort(
    (a, b) =>
      Number(b.role === 'user') - Number(a.role === 'user') ||
      (b.updated_at ?? 0) - (a.updated_at ?? 0) ||
      (a.created_at ?? 0) - (b.created_at ?? 0),
  )[0]
}

/** Searches Intercom for contacts whose phone is stored in any of the forms people write it in. */
export async function searchContactsByPhone(deps: BridgeDeps, e164: string): Promise<Intercom.Contact[]> {
  const variants = phoneSearchVariants(e164)
  const page = await call('search contacts by phone', () =>
    deps.clients.intercom.contacts.search({
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
export async function createLead(deps: BridgeDeps, phone: string): Promise<ResolvedContact> {
  try {
    const created = await deps.clients.intercom.contacts.create(
      phone.startsWith('+') ? { role: 'lead', phone } : { role: 'lead', name: `SMS sender ${phone}` },
    )
    return { id: created.id, role: created.role ?? 'lead', createdByBridge: true }
  } catch (err) {
    if (err instanceof IntercomError && err.statusCode === 409) {
      const id = /id=([\w-]+)/.exec(describeBody(err.body))?.[1]
      if (id) return { id, role: null, createdByBridge: false }
    }
    throw toJobError(err, 'create a contact')
  }
}

/** The admin that notes and tags are made as: configured, else the token's owner (asked once). */
export async function adminId(deps: BridgeDeps): Promise<string> {
  if (deps.config.intercom.adminId) return deps.config.intercom.adminId
  const cached = await getCached(deps.store.db, 'intercom.admin_id')
  if (cached) return cached
  const me = await call('identify the admin (GET /me)', () => deps.clients.intercom.admins.identify())
  if (!me?.id) throw new PermanentError('Intercom did not say which admin owns the access token; set INTERCOM_ADMIN_ID')
  await setCached(deps.store, 'intercom.admin_id', me.id)
  return me.id
}

/**
 * Our workspace's id, which Canvas Kit requests must name: configured, else asked once of GET /me
 * (the token's app) and cached. Intercom signs requests for the app, whichever workspace sent them.
 */
export async function workspaceId(deps: Pick<BridgeDeps, 'store' | 'config' | 'clients'>): Promise<string> {
  if (deps.config.workspaceId) return deps.config.workspaceId
  const cached = await getCached(deps.store.db, 'intercom.workspace_id')
  if (cached) return cached
  const me = await call('identify the workspace (GET /me)', () => deps.clients.intercom.admins.identify())
  const id = (me?.app as { id_code?: string } | undefined)?.id_code
  if (!id) throw new PermanentError('Intercom did not say which workspace owns the access token; set INTERCOM_WORKSPACE_ID')
  await setCached(deps.store, 'intercom.workspace_id', id)
  return id
}

/** The SMS tag's id: created if missing (POST /tags finds or creates by name), then cached. */
export async function smsTagId(deps: BridgeDeps): Promise<string> {
  const key = `intercom.tag.${deps.config.smsTag}`
  const cached = await getCached(deps.store.db, key)
  if (cached) return cached
  const tag = await call(`find or create the "${deps.config.smsTag}" tag`, () =>
    deps.clients.intercom.tags.create({ name: deps.config.smsTag }),
  )
  await setCached(deps.store, key, tag.id)
  return tag.id
}

/** Makes sure a custom contact attribute exists before it is written (Intercom refuses unknown ones). */
export async function ensureContactAttribute(
  deps: BridgeDeps,
  name: string,
  dataType: 'string' | 'boolean' | 'date' | 'integer',
  description: string,
): Promise<void> {
  const key = `intercom.attribute.contact.${name}`
  if (await getCached(deps.store.db, key)) return
  try {
    // The SDK's generated type drops the spec's `name`, `model` and `description` (lost in its oneOf).
    const request = { name, model: 'contact', data_type: dataType, description } as Intercom.CreateDataAttributeRequest
    await deps.clients.intercom.dataAttributes.create(request)
  } catch (err) {
    // 400 when it already exists ("You already have 'x' in your data..."): all we wanted to know.
    if (!(err instanceof IntercomError && err.statusCode === 400 && /already (exists|have)|taken/i.test(describeBody(err.body)))) {
      throw toJobError(err, `create the contact attribute ${name}`)
    }
  }
  await setCached(deps.store, key, '1')
}

export async function setContactAttributes(
  deps: BridgeDeps,
  contactId: string,
  attributes: Record<string, string | number | boolean | null>,
): Promise<void> {
  await call('update the contact', () =>
    deps.clients.intercom.contacts.update({ contact_id: contactId, custom_attributes: attributes }),
  )
}

export async function addNote(deps: BridgeDeps, conversationId: string, html: string): Promise<void> {
  const admin = await adminId(deps)
  await call('add a note to the conversation', () =>
    deps.clients.intercom.conversations.reply({
      conversation_id: conversationId,
      body: { message_type: 'note', type: 'admin', admin_id: admin, body: html },
    }),
  )
}

export { call as intercomCall }
