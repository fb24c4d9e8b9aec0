import { segmentInfo } from '../text.js'
import type { Executor, Tx } from './database.js'
import type {
  MediaItem,
  Message,
  MessageDirection,
  PhoneContact,
  SmsConversation,
  MessageStatus,
  MessageTable,
  MessageUpdate,
  TwilioStatus,
} from './schema.js'
import type { Selectable } from 'kysely'
import { jsonObjectFrom } from 'kysely/helpers/sqlite'
import { prepare } from './prepared.js'
import { compiler, type Statement } from './statement.js'

export type { MediaItem, Message } from './schema.js'

/** The one place the JSON `media` column is read. */
export function toMessage(row: Selectable<MessageTable>): Message {
  return { ...row, media: JSON.parse(row.media) as MediaItem[] }
}

/**
 * An inbound text as Twilio described it (its webhook, or its message log), already checked: the one
 * shape it has from the route to the statement that stores it.
 */
export interface InboundText {
  /** Twilio's MessageSid. */
  sid: string
  /** The sender as Twilio wrote it: a number, or with its channel (`whatsapp:+15551234567`). */
  from: string
  /** Our end as Twilio wrote it: the number (or `whatsapp:` sender) the customer wrote to. */
  to: string
  body: string
  media: MediaItem[]
  numSegments: number | null
  /** Twilio's Advanced Opt-Out verdict (OptOutType), when the text came through a Messaging Service that has it. */
  optOutType?: 'STOP' | 'START' | 'HELP' | null
}

/** Where an inbound text is filed: the sender's bare number (contacts are keyed by it), and our end with the channel. */
export interface InboundAddress {
  phone: string
  ours: string
}

const insertInboundRow = prepare<{
  sid: string
  phone: string
  ours: string
  body: string
  media: string
  numSegments: number | null
  now: number
}>((db, arg) =>
  db
    .insertInto('messages')
    .values({
      direction: 'inbound',
      twilio_sid: arg('sid'),
      phone: arg('phone'),
      twilio_number: arg('ours'),
      body: arg('body'),
      media: arg('media'),
      num_segments: arg('numSegments'),
      status: 'received',
      created_at: arg('now'),
      updated_at: arg('now'),
    })
    .onConflict((oc) => oc.column('twilio_sid').doNothing()),
)

/**
 * Stores an inbound text unless one with the same MessageSid exists (a redelivery): it changes one
 * row for a new text and none for a redelivery, so the statement after it can ask `changes()`, and
 * `last_insert_rowid()` for the new row's id.
 */
export function insertInbound(text: InboundText, { phone, ours }: InboundAddress, now = Date.now()): Statement {
  return insertInboundRow({
    sid: text.sid,
    phone,
    ours,
    body: text.body,
    media: JSON.stringify(text.media),
    numSegments: text.numSegments,
    now,
  })
}

/** A text to a customer, as every sender (teammate reply, sidebar, automated, verification) stores it. */
export interface OutboundText {
  phone: string
  /** Our end: the number or Messaging Service SID it goes out from. */
  from: string | null
  body: string
  contactId: string | null
  conversationId?: string | null | undefined
  media?: MediaItem[]
  status?: 'pending' | 'refused' | TwilioStatus
  errorMessage?: string | null
  /** Set when Twilio already accepted it (a verification code, sent before it is stored). */
  twilioSid?: string
  /** Segments counted from another body than the one stored (the code itself is never stored). */
  numSegments?: number
}

/** The conversation part a reply came from, and this text's place among the texts it was split into. */
export interface PartRef {
  id: string
  index: number
}

/**
 * Stores one text to a customer, `pending` unless said otherwise. A text of a conversation part is
 * stored once: for a part already stored (the reply job ran again) the answer is undefined.
 */
export async function createOutboundMessage(trx: Tx, text: OutboundText & { part: PartRef }, now?: number): Promise<number | undefined>
export async function createOutboundMessage(trx: Tx, text: OutboundText & { part?: undefined }, now?: number): Promise<number>
export async function createOutboundMessage(
  trx: Tx,
  text: OutboundText & { part?: PartRef | undefined },
  now = Date.now(),
): Promise<number | undefined> {
  const row = await trx
    .insertInto('messages')
    .values({
      direction: 'outbound',
      twilio_sid: text.twilioSid ?? null,
      intercom_conversation_id: text.conversationId ?? null,
      intercom_contact_id: text.contactId,
      intercom_part_id: text.part?.id ?? null,
      part_index: text.part?.index ?? 0,
      phone: text.phone,
      twilio_number: text.from,
      body: text.body,
      media: JSON.stringify(text.media ?? []),
      num_segments: text.numSegments ?? segmentInfo(text.body).segments,
      status: text.status ?? 'pending',
      error_message: text.errorMessage ?? null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('id')
    .executeTakeFirst()
  return row?.id
}

export async function getMessage(db: Executor, id: number): Promise<Message | undefined> {
  const row = await db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst()
  return row && toMessage(row)
}

const LINK_COLUMNS = [
  'p.phone',
  'p.intercom_contact_id',
  'p.contact_role',
  'p.created_by_bridge',
  'p.source',
  'p.others',
  'p.marked_at',
  'p.created_at',
  'p.updated_at',
] as const
const CONVERSATION_COLUMNS = [
  's.intercom_contact_id',
  's.intercom_conversation_id',
  's.phone',
  's.twilio_number',
  's.closed_at',
  's.state_at',
  's.created_at',
  's.updated_at',
] as const

/**
 * What delivering an inbound text starts from, in one read (one request to a remote database instead
 * of three): the message, our link of its phone to a contact, and that contact's SMS conversation.
 */
export async function findInboundForDelivery(
  db: Executor,
  id: number,
): Promise<{ message: Message; link: PhoneContact | undefined; conversation: SmsConversation | undefined } | undefined> {
  const row = await db
    .selectFrom('messages as m')
    .selectAll('m')
    .select((eb) => [
      // Columns named one by one: SQLite's json_object cannot take `*` (Kysely refuses selectAll here).
      jsonObjectFrom(eb.selectFrom('phone_contacts as p').select(LINK_COLUMNS).whereRef('p.phone', '=', 'm.phone')).as('link'),
      jsonObjectFrom(
        eb
          .selectFrom('phone_contacts as p')
          .innerJoin('sms_conversations as s', 's.intercom_contact_id', 'p.intercom_contact_id')
          .select(CONVERSATION_COLUMNS)
          .whereRef('p.phone', '=', 'm.phone'),
      ).as('conversation'),
    ])
    .where('m.id', '=', id)
    .executeTakeFirst()
  if (!row) return undefined
  const { link, conversation, ...message } = row
  return { message: toMessage(message), link: fromJson(link) ?? undefined, conversation: fromJson(conversation) ?? undefined }
}

/**
 * A `jsonObjectFrom` column as its type says it is. SQLite answers JSON as text, and Kysely's
 * ParseJSONResultsPlugin would parse every column that looks like JSON (a text's body "[1]", the
 * `media` column), so the two related rows are parsed here, by name.
 */
function fromJson<T>(value: T | null): T | null {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value
}

/** The text Twilio knows by this MessageSid: its own, or the SMS sent in its place after RCS failed. */
export async function findMessageBySid(db: Executor, sid: string): Promise<Message | undefined> {
  const row = await db
    .selectFrom('messages')
    .selectAll()
    .where((eb) => eb.or([eb('twilio_sid', '=', sid), eb('fallback_sid', '=', sid)]))
    .executeTakeFirst()
  return row && toMessage(row)
}

/**
 * Texts an SMS fallback may stand in for: to this phone through this Messaging Service since
 * `since`, sent (a MessageSid), with no fallback yet, oldest first. `body` narrows them to the words
 * Twilio's log shows for the fallback; without it, whether any is waiting at all.
 */
export async function textsAwaitingFallback(
  db: Executor,
  q: { phone: string; serviceSid: string; since: number; body?: string },
): Promise<Message[]> {
  let query = db
    .selectFrom('messages')
    .selectAll()
    .where('direction', '=', 'outbound')
    .where('phone', '=', q.phone)
    .where('twilio_number', '=', q.serviceSid)
    .where('twilio_sid', 'is not', null)
    .where('fallback_sid', 'is', null)
    .where('created_at', '>=', q.since)
  if (q.body !== undefined) query = query.where('body', '=', q.body)
  const rows = await query.orderBy('id').limit(20).execute()
  return rows.map(toMessage)
}

/** Whether a stored text (of this direction, if given) is this Intercom conversation part. */
export async function hasMessageForPart(db: Executor, partId: string, direction?: MessageDirection): Promise<boolean> {
  let q = db.selectFrom('messages').select('id').where('intercom_part_id', '=', partId)
  if (direction) q = q.where('direction', '=', direction)
  return (await q.executeTakeFirst()) !== undefined
}

/** The texts one teammate reply was split into, in order. */
export async function outboundTextsOfPart(db: Executor, partId: string): Promise<Message[]> {
  const rows = await db
    .selectFrom('messages')
    .selectAll()
    .where('direction', '=', 'outbound')
    .where('intercom_part_id', '=', partId)
    .orderBy('part_index')
    .execute()
  return rows.map(toMessage)
}

/** A contact's own newest texts, both ways. */
export async function recentMessagesOfContact(db: Executor, contactId: string, limit: number): Promise<Message[]> {
  const rows = await db
    .selectFrom('messages')
    .selectAll()
    .where('intercom_contact_id', '=', contactId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute()
  return rows.map(toMessage)
}

/** The newest text Twilio accepted for this contact: its MessageSid and status. */
export async function lastSentToContact(db: Executor, contactId: string): Promise<{ sid: string; status: MessageStatus } | undefined> {
  const row = await db
    .selectFrom('messages')
    .select(['twilio_sid', 'status'])
    .where('intercom_contact_id', '=', contactId)
    .where('direction', '=', 'outbound')
    .where('twilio_sid', 'is not', null)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst()
  return row ? { sid: row.twilio_sid!, status: row.status } : undefined
}

export function updateMessage(id: number, update: MessageUpdate, now = Date.now()): Statement {
  return compiler
    .updateTable('messages')
    .set({ ...update, updated_at: now })
    .where('id', '=', id)
    .compile()
}

/** Which of these Twilio sids we already have. */
export async function knownSids(db: Executor, sids: string[]): Promise<Set<string>> {
  if (sids.length === 0) return new Set()
  const rows = await db.selectFrom('messages').select('twilio_sid').where('twilio_sid', 'in', sids).execute()
  return new Set(rows.map((r) => r.twilio_sid!))
}

/** How many texts are stored, by direction, status and Twilio error code (for /metrics). */
export async function countMessages(
  db: Executor,
): Promise<Array<{ direction: MessageDirection; status: MessageStatus; errorCode: number | null; count: number }>> {
  const rows = await db
    .selectFrom('messages')
    .select(['direction', 'status', 'error_code', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['direction', 'status', 'error_code'])
    .execute()
  return rows.map((r) => ({ direction: r.direction, status: r.status, errorCode: r.error_code, count: Number(r.n) }))
}

/** When the newest inbound text was stored, or null. */
export async function lastInboundAt(db: Executor): Promise<number | null> {
  const row = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.max('created_at').as('last'))
    .where('direction', '=', 'inbound')
    .executeTakeFirst()
  return row?.last ?? null
}
