import type { Intercom } from 'intercom-client'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import { z } from 'zod'
import {
  countUnmatched,
  getBroadcast,
  insertRecipients,
  recipientsIn,
  moveBroadcast,
  numberTaken,
  pageDone,
  settleListed,
  type NewRecipient,
} from '../../shared/db/broadcasts.js'
import { findPhoneContact } from '../../shared/db/contacts.js'
import type { Tx } from '../../shared/db/database.js'
import type { Broadcast } from '../../shared/db/schema.js'
import { runIn, type Statement } from '../../shared/db/statement.js'
import { UpstreamError } from '../../shared/errors.js'
import { isTextableNumber, toE164 } from '../../shared/phone.js'
import { contactTimeZone } from '../../shared/quiet-hours.js'
import { AUDIENCE_PAGE } from '../clients/intercom.js'
import type { TaskResult } from '../queue/worker.js'
import { defineTask } from '../queue/task.js'
import { textingRefusal } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { estimateText } from './estimate.js'
import { parseTemplateRef, renderTemplateRef } from './templates.js'
import { numberTrust } from './trust.js'

/**
 * Why a contact of the audience gets no text, as a code the surfaces put into words. The checks are
 * the automated texts' own (sendAutomated looks again at send time, with Intercom's SMS subscription).
 */
export type Exclusion =
  | 'gone'
  | 'no_number'
  | 'untrusted'
  | 'country_not_allowed'
  | 'opted_out'
  | 'unsubscribed'
  | 'consent_required'
  | 'duplicate_number'
  | 'unknown_template'
  | 'macro_unavailable'
  | 'empty'

/** Reading the audience a page at a time (Intercom's cursor kept in the broadcast's row), never all at once. */
export const expandTask = defineTask('broadcast.expand', z.object({ id: z.number().int().positive() }), {
  lane: 'bulk',
  run: expandPage,
  keys: { expand: (id: number) => `bexpand:${id}` },
})

/**
 * Job: one page of the audience becomes recipient rows, the cursor moves on, in one transaction, so a
 * crash repeats at most that page (its rows are kept once). Runs again at once while pages remain.
 */
export async function expandPage(deps: BridgeDeps, payload: { id: number }): Promise<void | TaskResult> {
  const b = await getBroadcast(deps.store.db, payload.id)
  if (!b || b.state !== 'expanding') return
  const now = deps.clock.now()
  let page: { writes: Statement[]; next: string | null; more: boolean }
  try {
    page = b.audience_kind === 'file' ? await filePage(deps, b) : await intercomPage(deps, b)
  } catch (err) {
    if (!(err instanceof UpstreamError && err.outcome === 'give_up')) throw err
    await deps.store.run(moveBroadcast(b.id, { from: ['expanding'], to: 'failed', failure: err.message }, now))
    return
  }
  const finished = page.more ? [] : [moveBroadcast(b.id, { from: ['expanding'], to: 'ready' }, now)]
  await deps.store.run(...page.writes, pageDone(b.id, page.next, now), ...finished)
  return page.more ? { runAgainAt: now } : undefined
}

async function intercomPage(deps: BridgeDeps, b: Broadcast) {
  const field = b.audience_kind === 'segment' ? ('segment_id' as const) : ('tag_id' as const)
  const { contacts, next } = await deps.intercom.audiencePage({ field, id: b.audience_ref ?? '' }, b.cursor)
  const rows = await evaluateAll(deps, b, contacts)
  return { writes: rows.length ? [insertRecipients(rows, deps.clock.now())] : [], next, more: next !== null }
}

/** A file's listed contacts, a page at a time: each looked up in Intercom, then judged. */
async function filePage(deps: BridgeDeps, b: Broadcast) {
  const listed = await recipientsIn(deps.store.db, b.id, 'listed', AUDIENCE_PAGE)
  const found: Intercom.Contact[] = []
  const gone: NewRecipient[] = []
  for (const r of listed) {
    const c = await deps.intercom.findContact(r.intercom_contact_id)
    if (c) found.push(c)
    else gone.push(excluded(b, r.intercom_contact_id, 'gone'))
  }
  const rows = [...(await evaluateAll(deps, b, found)), ...gone]
  return { writes: rows.map(settleListed), next: null, more: listed.length === AUDIENCE_PAGE }
}

async function evaluateAll(deps: BridgeDeps, b: Broadcast, contacts: Intercom.Contact[]): Promise<NewRecipient[]> {
  const numbers = new Set<string>()
  const rows: NewRecipient[] = []
  for (const c of contacts) rows.push(await evaluate(deps, b, c, numbers))
  return rows
}

const excluded = (b: Broadcast, contactId: string, reason: Exclusion): NewRecipient => ({
  broadcast_id: b.id,
  intercom_contact_id: contactId,
  phone: null,
  state: 'excluded',
  reason,
})

/**
 * Whether the contact gets the broadcast, and its text: a valid mobile number the bridge trusts for
 * the contact (never a lead's own claim), in an allowed country, consent for the purpose, one text
 * per number, and the rendered text with its estimate and the contact's time zone.
 */
async function evaluate(deps: BridgeDeps, b: Broadcast, c: Intercom.Contact, numbers: Set<string>): Promise<NewRecipient> {
  const phone = toE164(c.phone ?? '', deps.config.defaultCountry)
  if (!phone || !(await isTextableNumber(phone))) return excluded(b, c.id, 'no_number')
  if (!(await numberTrust(deps, { id: c.id, role: c.role, phone: c.phone, custom_attributes: c.custom_attributes }, phone))) {
    return excluded(b, c.id, 'untrusted')
  }
  const country = parsePhoneNumberFromString(phone)?.country
  if (!country || !deps.config.allowedCountries.has(country)) return excluded(b, c.id, 'country_not_allowed')
  const refusal = await textingRefusal(deps, { phone, automated: true, purpose: b.purpose, contact: c })
  if (refusal) return excluded(b, c.id, refusal.code)
  if (numbers.has(phone) || (await numberTaken(deps.store.db, b.id, phone))) return excluded(b, c.id, 'duplicate_number')
  numbers.add(phone)
  const rendered = await renderTemplateRef(deps, parseTemplateRef(b.template), c)
  if (!rendered.ok) return excluded(b, c.id, rendered.reason)
  const estimate = await estimateText(deps, { phone, body: rendered.body, mediaCount: 0 })
  const perText = estimate.price ? Number(estimate.price.perText) : NaN
  return {
    broadcast_id: b.id,
    intercom_contact_id: c.id,
    phone,
    state: 'pending',
    reason: null,
    body: rendered.body,
    segments: estimate.segments,
    encoding: estimate.encoding,
    cost: Number.isFinite(perText) ? perText : null,
    cost_unit: estimate.price?.unit ?? null,
    time_zone: contactTimeZone(c.location?.country ?? null, deps.config.quietHours?.timeZone ?? 'UTC'),
    not_before: 0,
  }
}

const CONTACT_ID = /^[\w-]{1,64}$/

/** Most lines a file audience may have: a larger list is an export to split, not a broadcast. */
export const MAX_FILE_ENTRIES = 100_000

/**
 * A file's lines as contacts: an Intercom contact id, or a number (E.164, or as DEFAULT_COUNTRY reads
 * it) that the bridge has linked to a contact; a CSV line's first column. Numbers nobody is linked to
 * are only counted. Written as `listed` rows: expansion looks at them a page at a time.
 */
export async function listFileEntries(
  trx: Tx,
  deps: Pick<BridgeDeps, 'config'>,
  list: { broadcastId: number; entries: string[] },
  now: number,
): Promise<number> {
  const ids = new Set<string>()
  let unmatched = 0
  for (const entry of list.entries) {
    const number = /^[+(\d]/.test(entry) ? toE164(entry, deps.config.defaultCountry) : null
    const id = number ? (await findPhoneContact(trx, number))?.intercom_contact_id : CONTACT_ID.test(entry) ? entry : undefined
    if (id) ids.add(id)
    else unmatched++
  }
  const rows = [...ids].map((id): NewRecipient => ({
    broadcast_id: list.broadcastId,
    intercom_contact_id: id,
    phone: null,
    state: 'listed',
    reason: null,
  }))
  for (let i = 0; i < rows.length; i += 500) await runIn(trx, insertRecipients(rows.slice(i, i + 500), now))
  if (unmatched) await runIn(trx, countUnmatched(list.broadcastId, unmatched))
  return ids.size
}

/** A file's text as entries: one a line, a CSV line's first column, blank lines and `#` comments left out. */
export function fileEntries(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) =>
      line
        .split(',')[0]!
        .trim()
        .replace(/^"(.*)"$/, '$1'),
    )
    .filter((e) => e !== '' && !e.startsWith('#'))
}
