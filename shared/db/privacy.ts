import { sql } from 'kysely'
import type { Executor, Tx } from './database.js'
import { toMessage } from './messages.js'

/** Statuses whose text may still be needed in full: an outbound text not yet sent, an inbound one not yet in Intercom. */
const UNFINISHED = ['pending', 'received'] as const

/**
 * Removes the words and media links of up to `limit` texts stored before `before` (retention). The
 * row keeps its MessageSid (a redelivered webhook or a catch-up after a restore must not bring it
 * back), number, status and segments; `redacted_at` says the words are gone.
 */
export async function redactOldMessages(trx: Tx, before: number, limit: number, now: number): Promise<number> {
  const result = await trx
    .updateTable('messages')
    .set({ body: '', media: '[]', redacted_at: now, updated_at: now })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('messages')
        .select('id')
        .where('redacted_at', 'is', null)
        .where('created_at', '<', before)
        .where('status', 'not in', UNFINISHED)
        .limit(limit),
    )
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}

/** The same for welcome and Series texts: their rendered words, up to `limit` rows. */
export async function redactOldAutomated(trx: Tx, before: number, limit: number): Promise<number> {
  const result = await trx
    .updateTable('automated_sends')
    .set({ body: null })
    .where('key', 'in', (eb) =>
      eb.selectFrom('automated_sends').select('key').where('body', 'is not', null).where('created_at', '<', before).limit(limit),
    )
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}

/** Who an erasure or export is about: a number, or an Intercom contact. */
export type PersonRef = { phone: string } | { contactId: string }

/** Every number and contact id the bridge connects with the person. */
export interface Person {
  phones: string[]
  contactIds: string[]
}

const unique = (values: Array<string | null>) => [...new Set(values.filter((v): v is string => Boolean(v)))]

/**
 * A number brings the contact it is linked to; a contact brings every number it was linked to or
 * texted from. One step only: a contact's other numbers do not bring their other contacts.
 */
export async function resolvePerson(db: Executor, ref: PersonRef): Promise<Person> {
  if ('phone' in ref) {
    const links = await db.selectFrom('phone_contacts').select('intercom_contact_id').where('phone', '=', ref.phone).execute()
    const threads = await db.selectFrom('sms_conversation_links').select('intercom_contact_id').where('phone', '=', ref.phone).execute()
    return { phones: [ref.phone], contactIds: unique([...links, ...threads].map((r) => r.intercom_contact_id)) }
  }
  const id = ref.contactId
  const phones = await sql<{ phone: string }>`
    select phone from phone_contacts where intercom_contact_id = ${id}
    union select phone from sms_conversation_links where intercom_contact_id = ${id}
    union select phone from sms_conversations where intercom_contact_id = ${id}
    union select distinct phone from messages where intercom_contact_id = ${id} and phone != ''`.execute(db)
  return { phones: unique(phones.rows.map((r) => r.phone)), contactIds: [id] }
}

/** Everything the bridge holds about a person, table by table (no code hashes). */
export async function personRecords(db: Executor, p: Person) {
  const phones = p.phones.length ? p.phones : ['']
  const contacts = p.contactIds.length ? p.contactIds : ['']
  const messages = await db
    .selectFrom('messages')
    .selectAll()
    .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)]))
    .orderBy('created_at')
    .orderBy('id')
    .execute()
  const byPerson = <T extends 'phone_contacts' | 'sms_conversations' | 'sms_conversation_links'>(table: T) =>
    db
      .selectFrom(table as 'phone_contacts')
      .selectAll()
      .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)]))
      .execute()
  return {
    messages: messages.map(toMessage),
    phoneContacts: await byPerson('phone_contacts'),
    conversations: await byPerson('sms_conversations'),
    conversationLinks: await byPerson('sms_conversation_links'),
    consent: await db.selectFrom('consent').selectAll().where('phone', 'in', phones).execute(),
    /** Our number each of their numbers last used or was last texted from. */
    senders: await db.selectFrom('customer_senders').selectAll().where('phone', 'in', phones).execute(),
    consentEvents: await db.selectFrom('consent_events').selectAll().where('phone', 'in', phones).orderBy('id').execute(),
    automatedSends: await db
      .selectFrom('automated_sends')
      .selectAll()
      .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)]))
      .execute(),
    verifications: await db
      .selectFrom('phone_verifications')
      .select(['id', 'intercom_contact_id', 'phone', 'expires_at', 'attempts', 'sends', 'last_sent_at', 'verified_at', 'created_at'])
      .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)]))
      .execute(),
    sendCounts: await db
      .selectFrom('send_counts')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb.and([eb('scope', '=', 'number'), eb('key', 'in', phones)]),
          eb.and([eb('scope', 'in', ['contact', 'submit']), eb('key', 'in', contacts)]),
        ]),
      )
      .execute(),
  }
}

export type PersonRecords = Awaited<ReturnType<typeof personRecords>>

/** What an erasure did, table by table, and the MessageSids whose copies at Twilio are still to be redacted. */
export interface ErasedRows {
  messages: number
  links: number
  conversations: number
  automated: number
  verifications: number
  jobs: number
  consentDeleted: number
  /** An opt-out is kept: without the number, a later text could not be refused. */
  optOutKept: boolean
  sids: string[]
}

/**
 * Erases a person's rows in one transaction. Texts are anonymised, not deleted: the row keeps its
 * MessageSid, direction, status and segments (dedupe, counts), loses number, words, media, contact
 * and conversation. An opt-out stays (number, state, source, time: nothing else).
 */
export async function erasePersonRows(trx: Tx, p: Person, now: number): Promise<ErasedRows> {
  const phones = p.phones.length ? p.phones : ['']
  const contacts = p.contactIds.length ? p.contactIds : ['']
  const texts = await blankTexts(trx, { phones, contacts }, now)
  const ids = texts.map((t) => t.id)
  const { links, conversations, verifications } = await eraseLinks(trx, { phones, contacts })
  await trx
    .deleteFrom('send_counts')
    .where((eb) =>
      eb.or([
        eb.and([eb('scope', '=', 'number'), eb('key', 'in', phones)]),
        eb.and([eb('scope', 'in', ['contact', 'submit']), eb('key', 'in', contacts)]),
      ]),
    )
    .execute()
  const automated = await eraseAutomated(trx, phones, contacts, now)
  // Which of our numbers they last used: nothing to keep once they are gone.
  await trx.deleteFrom('customer_senders').where('phone', 'in', phones).execute()
  const consentDeleted = await removed(trx.deleteFrom('consent').where('phone', 'in', phones).where('state', '!=', 'opted_out'))
  const optOutKept = (await trx.selectFrom('consent').select('phone').where('phone', 'in', phones).executeTakeFirst()) !== undefined
  await eraseLedger(trx, phones)
  const jobs = await erasePersonJobs(trx, phones, contacts, ids)
  return {
    messages: ids.length,
    links,
    conversations,
    automated,
    verifications,
    jobs,
    consentDeleted,
    optOutKept,
    sids: unique(texts.map((t) => t.twilio_sid)),
  }
}

/**
 * The ledger keeps what the consent row keeps: for a number still opted out, the event that opted it
 * out (source, time, the words, our number, the MessageSid), without the conversation or contact that
 * tie it to the rest of the person; every other event of theirs goes.
 */
async function eraseLedger(trx: Tx, phones: string[]): Promise<void> {
  const proofs = trx
    .selectFrom('consent_events as e')
    .innerJoin('consent as c', (j) => j.onRef('c.phone', '=', 'e.phone').on('c.state', '=', 'opted_out'))
    .where('e.phone', 'in', phones)
    .where('e.state', '=', 'opted_out')
    .select((eb) => eb.fn.max('e.id').as('id'))
    .groupBy('e.phone')
  await trx.deleteFrom('consent_events').where('phone', 'in', phones).where('id', 'not in', proofs).execute()
  await trx.updateTable('consent_events').set({ conversation_id: null, contact_id: null }).where('phone', 'in', phones).execute()
}

/** How many rows a delete removed. */
async function removed(q: { executeTakeFirst(): Promise<{ numDeletedRows: bigint }> }): Promise<number> {
  return Number((await q.executeTakeFirst()).numDeletedRows)
}

/** Their texts keep their place and status but lose their number, words and pictures; answers the texts blanked. */
async function blankTexts(trx: Tx, { phones, contacts }: { phones: string[]; contacts: string[] }, now: number) {
  const texts = await trx
    .selectFrom('messages')
    .select(['id', 'twilio_sid'])
    .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)]))
    .execute()
  const ids = texts.map((t) => t.id)
  if (ids.length > 0) {
    await trx
      .updateTable('messages')
      .set({
        phone: '',
        body: '',
        media: '[]',
        intercom_contact_id: null,
        intercom_conversation_id: null,
        error_message: null,
        redacted_at: now,
        updated_at: now,
      })
      .where('id', 'in', ids)
      .execute()
  }
  return texts
}

/** Their links, SMS conversations (with the quick replies asked there) and number verifications. */
async function eraseLinks(trx: Tx, { phones, contacts }: { phones: string[]; contacts: string[] }) {
  const links =
    (await removed(
      trx.deleteFrom('phone_contacts').where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)])),
    )) +
    (await removed(
      trx.deleteFrom('sms_conversation_links').where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)])),
    ))
  // What a teammate asked them by text (its options may name them): their SMS conversations' quick replies.
  await trx
    .deleteFrom('quick_replies')
    .where(
      'intercom_conversation_id',
      'in',
      trx
        .selectFrom('sms_conversations')
        .select('intercom_conversation_id')
        .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)])),
    )
    .execute()
  const conversations = await removed(
    trx.deleteFrom('sms_conversations').where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)])),
  )
  // Their words flagged as a request to stop: the consent row (kept for an opt-out) is the proof.
  await trx.deleteFrom('revocation_requests').where('phone', 'in', phones).execute()
  const verifications = await removed(
    trx.deleteFrom('phone_verifications').where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)])),
  )
  return { links, conversations, verifications }
}

/**
 * Welcome and Series records keep their key and status (a text is sent once per key, for ever) and
 * lose number and words; a confirmation's key holds the number, so it goes.
 */
async function eraseAutomated(trx: Tx, phones: string[], contacts: string[], now: number): Promise<number> {
  const mine = trx
    .selectFrom('automated_sends')
    .select('key')
    .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)]))
  const confirmations = await trx
    .deleteFrom('automated_sends')
    .where('kind', '=', 'confirmation')
    .where('key', 'in', mine)
    .executeTakeFirst()
  const others = await trx
    .updateTable('automated_sends')
    .set({ phone: null, body: null, reason: null, requested_by: null, updated_at: now })
    .where(
      'key',
      'in',
      trx
        .selectFrom('automated_sends')
        .select('key')
        .where((eb) => eb.or([eb('phone', 'in', phones), eb('intercom_contact_id', 'in', contacts)])),
    )
    .executeTakeFirst()
  return Number(confirmations.numDeletedRows) + Number(others.numUpdatedRows)
}

/**
 * Deletes the jobs not running that carry the person: a number or contact id in the payload, key or
 * ordering key, or one of their texts. A running job finishes; what it then writes is about
 * anonymised rows.
 */
async function erasePersonJobs(trx: Tx, phones: string[], contacts: string[], messageIds: number[]): Promise<number> {
  const values = [...phones, ...contacts].filter(Boolean)
  if (values.length === 0 && messageIds.length === 0) return 0
  const result = await trx
    .deleteFrom('jobs')
    .where('state', '!=', 'running')
    .where('task', '!=', 'privacy.redact')
    .where((eb) =>
      eb.or([
        ...values.flatMap((v) => [
          eb(sql<number>`instr(payload, ${JSON.stringify(v)})`, '>', 0),
          eb(sql<number>`instr(':' || coalesce(key, '') || ':', ${`:${v}:`})`, '>', 0),
          eb(sql<number>`instr(':' || coalesce(queue_key, '') || ':', ${`:${v}:`})`, '>', 0),
        ]),
        ...(messageIds.length ? [eb(sql<number | null>`json_extract(payload, '$.messageId')`, 'in', messageIds)] : []),
      ]),
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
