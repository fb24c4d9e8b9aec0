import { runIn } from '../../shared/db/statement.js'
import type { Intercom } from 'intercom-client'
import { z } from 'zod'
import {
  findPhoneContact,
  findSmsConversation,
  linkPhoneContact,
  othersOf,
  setSmsConversation,
  type NewLink,
  type OtherContact,
} from '../../shared/db/contacts.js'
import {
  findInboundForDelivery,
  hasMessageForPart,
  insertInbound,
  updateMessage,
  type InboundAddress,
  type InboundText,
  type Message,
} from '../../shared/db/messages.js'
import { maskPhone } from '../../shared/log.js'
import type { PhoneContact, SmsConversation } from '../../shared/db/schema.js'
import { openQuickReply, settleQuickReply } from '../../shared/db/quick-replies.js'
import { normalizeSender } from '../../shared/phone.js'
import { escapeHtml, textOf } from '../../shared/text.js'
import { splitAddress } from '../../shared/channel.js'
import type { JobContext } from '../queue/worker.js'
import type { Config } from '../config.js'
import { holdOnInbound } from './scheduled.js'
import type { BridgeDeps } from './deps.js'
import type { CustomerPart } from '../clients/intercom.js'
import { defineTask, enqueueTask, enqueueTaskAfterInsert } from '../queue/task.js'
import { queues } from './keys.js'
import { detectKeyword, keyword as keywordField, recordKeyword, type Keyword } from './keywords.js'
import { followedMerge, markTask } from './links.js'
import { mediaUrls } from './media-links.js'
import { chosenOption } from './parts.js'
import { chooseContact } from './trust.js'
import { noteTask } from './outbound.js'
import { flagRevocation } from './revocations.js'
import { routeTask, routesConversations, senderOfNewText } from './senders.js'

// lookFirst: the text may already be in Intercom (it came from Twilio's log, not its webhook).
const deliverPayload = z.object({
  messageId: z.number().int().positive(),
  keyword: keywordField.optional(),
  lookFirst: z.literal(true).optional(),
})
type DeliverPayload = z.output<typeof deliverPayload>

/** Putting one stored inbound text into Intercom, once per MessageSid, in the sender's order. */
export const deliverTask = defineTask('inbound.deliver', deliverPayload, {
  lane: 'inbound',
  run: deliverInbound,
  keys: { deliver: (messageSid: string) => `inbound:${messageSid}` },
})

/** Tagging a conversation the bridge opened. */
export const tagTask = defineTask('conversation.tag', z.object({ conversationId: z.string().min(1) }), {
  lane: 'inbound',
  run: tagConversation,
  keys: { tag: (conversationId: string) => `tag:${conversationId}` },
})

const OPT_OUT_TYPES: Record<'STOP' | 'START' | 'HELP', Keyword> = { STOP: 'opt_out', START: 'opt_in', HELP: 'help' }

/** Where the text is filed: the sender normalised (a WhatsApp sender is the same person as the number), our end with its channel. */
function addressOf(text: InboundText, config: Pick<Config, 'defaultCountry'>): InboundAddress {
  // Contacts are keyed by the bare number, and our end keeps the channel (`whatsapp:+...`), so the
  // reply goes back on WhatsApp.
  const from = splitAddress(text.from)
  const bare = from.channel ? from.address : text.from
  const phone = normalizeSender(bare, config.defaultCountry)?.value ?? bare
  const ours = from.channel === 'whatsapp' && !text.to.startsWith('whatsapp:') ? `whatsapp:${text.to}` : text.to
  return { phone, ours }
}

/**
 * A text Twilio posted (the webhook, or the catch-up from Twilio's log): stored and its delivery
 * queued in one transaction; false when this MessageSid was already stored (a redelivery), and then
 * nothing else happens. Texts from one sender share an ordering key, so they reach Intercom one at a
 * time, in arrival order. Two statements in one `run` (the message's unique MessageSid dedupes in the insert;
 * the job is added only for a new row, its payload naming that row in SQL): a group commit of texts
 * is one request to a remote database. Both statements are prepared: nothing is compiled per text.
 * `lookFirst`: the text may already be in Intercom (see deliverInbound).
 */
export async function receiveText(
  deps: Pick<BridgeDeps, 'store' | 'config' | 'clock'>,
  text: InboundText,
  { now = deps.clock.now(), lookFirst = false }: { now?: number; lookFirst?: boolean } = {},
): Promise<boolean> {
  const address = addressOf(text, deps.config)
  // Twilio's Advanced Opt-Out verdict, when it gave one.
  const keyword = text.optOutType ? OPT_OUT_TYPES[text.optOutType] : undefined
  // The message's id is the row the insert adds (enqueueTaskAfterInsert writes it into the payload).
  const payload: DeliverPayload = { messageId: 0, ...(keyword ? { keyword } : {}), ...(lookFirst ? { lookFirst } : {}) }
  const options = { key: deliverTask.keys.deliver(text.sid), queueKey: queues.phone(address.phone), idField: 'messageId' } as const
  // The number they wrote to is the one they hear back from, on every path (server/bridge/senders.ts).
  const [stored] = await deps.store.run(
    insertInbound(text, address, now),
    enqueueTaskAfterInsert(deliverTask, payload, options, now),
    ...senderOfNewText(address.phone, address.ours, now),
    // The customer wrote first: texts scheduled to them wait for a teammate (send later).
    ...holdOnInbound(address.phone, now),
  )
  return stored.numAffectedRows === 1n
}

export interface ResolvedContact {
  id: string
  role: string | null
  createdByBridge: boolean
  /** Other contacts that carried the number when the bridge made its own lead: the team is told. */
  others: OtherContact[]
  /** Whether this delivery made the link (the bridge's own records had none for the number). */
  linkedNow: boolean
}

function fromLink(link: PhoneContact, linkedNow: boolean): ResolvedContact {
  return {
    id: link.intercom_contact_id,
    role: link.contact_role,
    createdByBridge: link.created_by_bridge === 1,
    others: othersOf(link),
    linkedNow,
  }
}

/**
 * Finds the contact for a phone number: our own link first (read here unless `known` says it), then
 * a contact Intercom has with the number that the rules in trust.ts accept (the bridge's mark, a
 * user), else a new lead of the bridge's own. A lead that merely claims the number is never chosen.
 */
export async function resolveContact(
  deps: BridgeDeps,
  phone: string,
  known?: { link: PhoneContact | undefined },
): Promise<ResolvedContact> {
  const linked = known ? known.link : await findPhoneContact(deps.store.db, phone)
  if (linked) return fromLink(linked, false)
  const choice = chooseContact(deps.config, phone.startsWith('+') ? await deps.intercom.searchContactsByPhone(phone) : [], phone)
  const lead = choice.contact ? undefined : await deps.intercom.createLead(phone)
  const link: NewLink = choice.contact
    ? { phone, contactId: choice.contact.id, role: choice.contact.role ?? null, createdByBridge: false, source: choice.source }
    : { phone, contactId: lead!.id, role: lead!.role, createdByBridge: lead!.created, source: 'created', others: choice.others }
  // The link is what keeps the next text (and every other process) from creating a second contact;
  // the mark on the contact is what finds it again if our records are ever gone.
  const [, winner] = await deps.store.run(
    ...linkPhoneContact(link),
    ...(link.source === 'marked' || !phone.startsWith('+')
      ? []
      : [
          enqueueTask(
            markTask,
            { contactId: link.contactId, phone },
            { key: markTask.keys.mark(phone, link.contactId), queueKey: queues.contact(link.contactId) },
            deps.clock.now(),
          ),
        ]),
  )
  const row = winner.rows[0]!
  deps.log.info({ contact: row.intercom_contact_id, phone, source: row.source }, 'linked phone to Intercom contact')
  return fromLink(row, true)
}

function reopenable(closedAt: number | null, windowDays: number, now: number): boolean {
  return closedAt === null || now - closedAt <= windowDays * 86_400_000
}

function attachmentLabel(n: number): string {
  return n === 1 ? '(sent an attachment)' : `(sent ${n} attachments)`
}

/**
 * The text as Intercom should show it: exactly the characters sent, escaped, so `<a href>` or
 * `<img>` in a text is shown as text, never rendered in the inbox (emoji and every script pass
 * through untouched); a picture-only text says what it carries.
 */
function displayBody(message: Message): string {
  return message.body.trim() !== '' ? escapeHtml(message.body) : attachmentLabel(message.media.length)
}

function newestPartBy(conversation: Intercom.Conversation, contactId: string): string | undefined {
  const parts = conversation.conversation_parts?.conversation_parts ?? []
  return [...parts].reverse().find((p) => p.author?.id === contactId)?.id
}

/**
 * How far a posted text's time may be from the one we would send and still be the same text: the
 * webhook stores a text at its arrival, Twilio's log (the catch-up) at its sending, a second or more
 * apart. The nearest unclaimed one is taken, so the same words sent twice are told apart.
 */
const SAME_TEXT_WITHIN_S = 120

/** The candidates near `createdAt`, nearest first. */
function nearest<T extends { created_at?: number | null }>(items: T[], createdAt: number): T[] {
  const distance = (x: T) => Math.abs((x.created_at ?? -Infinity) - createdAt)
  return items.filter((x) => distance(x) <= SAME_TEXT_WITHIN_S).sort((a, b) => distance(a) - distance(b))
}

/**
 * On a retry the attempt before may have posted and then failed (and a text from Twilio's log may
 * have been posted by the database before a restore): look for a part by this contact with the
 * same text, at the time we send (the text's own, in seconds) or near it, that no stored text
 * already claims, before posting again.
 */
async function findPostedPart(deps: BridgeDeps, part: Pick<CustomerPart, 'conversationId' | 'contactId' | 'createdAt' | 'body'>) {
  const conversation = await deps.intercom.findConversation(part.conversationId)
  if (!conversation) return undefined
  const theirs = (conversation.conversation_parts?.conversation_parts ?? []).filter(
    (p) => p.author?.id === part.contactId && partText(p.body) === partText(part.body),
  )
  for (const candidate of nearest(theirs, part.createdAt)) {
    if (candidate.id && !(await hasMessageForPart(deps.store.db, candidate.id))) return candidate.id
  }
  return undefined
}

/** Intercom may wrap a posted text in HTML: compare what it says, not how it is marked up. */
function partText(body: string | null | undefined): string {
  return textOf(body).trim()
}

/** Posts a customer reply once, even across retries. Returns the part id, or null if the conversation is gone. */
async function postAsCustomer(deps: BridgeDeps, ctx: JobContext, part: CustomerPart): Promise<string | null> {
  if (ctx.job.attempts > 1) {
    const posted = await findPostedPart(deps, part)
    if (posted) return posted
  }
  // created_at keeps the text at the time it was sent, even when it is delivered late (after an
  // outage or a catch-up).
  const conversation = await deps.intercom.replyAsContact(part)
  if (!conversation) return null
  return newestPartBy(conversation, part.contactId) ?? `${conversation.id}@${part.createdAt}`
}

/**
 * A conversation this contact started at this time (we set created_at to the text's time), or near
 * it, with this text, whose first text no stored text claims. Intercom's search matches dates by
 * whole day, so the answer is narrowed here.
 */
async function findStartedConversation(deps: BridgeDeps, contactId: string, createdAt: number, body: string): Promise<string | undefined> {
  const started = (await deps.intercom.conversationsStartedOn(contactId, createdAt)).filter(
    (c) => partText(c.source?.body) === partText(body),
  )
  for (const candidate of nearest(started, createdAt)) {
    // Recorded as the text that opened it, or as the message that started it (startConversation).
    const claimed =
      (await hasMessageForPart(deps.store.db, `conversation:${candidate.id}`)) ||
      (candidate.source?.id !== undefined && (await hasMessageForPart(deps.store.db, `message:${candidate.source.id}`)))
    if (!claimed) return candidate.id
  }
  return undefined
}

/**
 * Where a text that may already be in Intercom is (it came from Twilio's log, and the database that
 * delivered it before a restore or a new volume no longer says so): a conversation this contact
 * started with it, else a part of theirs with it in the conversation the text would go to. Asked
 * before the first attempt posts, as a retry asks; a text found is recorded, not posted again.
 */
async function findDelivered(
  deps: BridgeDeps,
  c: { contactId: string; existing: Pick<SmsConversation, 'intercom_conversation_id'> | undefined; createdAt: number; body: string },
): Promise<{ conversationId: string; partId: string; started: boolean } | undefined> {
  const started = await findStartedConversation(deps, c.contactId, c.createdAt, c.body)
  if (started) return { conversationId: started, partId: `conversation:${started}`, started: true }
  if (!c.existing) return undefined
  const conversationId = c.existing.intercom_conversation_id
  const partId = await findPostedPart(deps, { conversationId, contactId: c.contactId, createdAt: c.createdAt, body: c.body })
  return partId ? { conversationId, partId, started: false } : undefined
}

/** What the team reads when the number is also on contacts the bridge did not trust with it. */
export function othersNote(others: OtherContact[]): string {
  const who = others
    .map((o) => `${o.role === 'user' ? 'user' : 'lead'} ${o.name ? `"${escapeHtml(o.name)}" ` : ''}(${escapeHtml(o.id)})`)
    .join(', ')
  const users = others.some((o) => o.role === 'user')
  return (
    `<p><b>This number is also on ${others.length === 1 ? 'another contact' : 'other contacts'}:</b> ${who}.</p>` +
    "<p>The bridge filed the text under its own lead for the number: a contact's phone can be set by anyone in the Messenger, so it does not say whose the number is. " +
    (users
      ? 'If a user above is this customer, use <b>Merge</b> in the SMS panel: this lead and its conversation move to the user. '
      : '') +
    'If a lead above is this customer, open its conversation and save the number in its SMS panel: texts then thread there.</p>'
  )
}

/**
 * The new conversation becomes the contact's SMS conversation; its tag is a job queued with it, and
 * so are the number's own tag and assignee (SENDERS) and the note naming other contacts that carry
 * the number.
 */
async function recordStarted(
  deps: BridgeDeps,
  messageId: number,
  c: { contactId: string; conversationId: string; phone: string; twilioNumber: string | null; others: OtherContact[] },
): Promise<void> {
  await deps.store.run(
    ...setSmsConversation(c),
    updateMessage(messageId, { intercom_conversation_id: c.conversationId, intercom_contact_id: c.contactId }),
    enqueueTask(tagTask, { conversationId: c.conversationId }, { key: tagTask.keys.tag(c.conversationId) }, deps.clock.now()),
    ...(c.twilioNumber && routesConversations(deps.config, c.twilioNumber)
      ? [
          enqueueTask(
            routeTask,
            { conversationId: c.conversationId, number: c.twilioNumber },
            { key: routeTask.keys.route(c.conversationId) },
            deps.clock.now(),
          ),
        ]
      : []),
    ...(c.others.length
      ? [
          enqueueTask(
            noteTask,
            { conversationId: c.conversationId, html: othersNote(c.others) },
            { key: noteTask.keys.othersNote(c.conversationId) },
            deps.clock.now(),
          ),
        ]
      : []),
  )
}

/**
 * The SMS conversation the bridge opened for this contact before its records were lost (a restore,
 * a new volume): the newest conversation of theirs with the SMS tag. Only asked when the link was
 * just made to a contact Intercom already had.
 */
async function recoverSmsConversation(
  deps: BridgeDeps,
  contactId: string,
): Promise<{ intercom_conversation_id: string; closed_at: number | null } | undefined> {
  const theirs = await deps.intercom.conversationsOf(contactId)
  const sms = theirs
    .filter((c) => (c.tags?.tags ?? []).some((t) => t.name === deps.config.smsTag))
    .sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0))[0]
  if (!sms) return undefined
  return { intercom_conversation_id: sms.id, closed_at: sms.state === 'closed' ? (sms.updated_at ?? 0) * 1000 : null }
}

/**
 * Job: puts one stored inbound text into the contact's SMS conversation. Idempotent. When Intercom
 * merged the contact into another meanwhile (the lead who texted signed up), the links follow the
 * merge and the text goes to the survivor: a customer's text never dies for a merge.
 */
export async function deliverInbound(deps: BridgeDeps, payload: DeliverPayload, ctx: JobContext): Promise<void> {
  const found = await findInboundForDelivery(deps.store.db, payload.messageId)
  if (!found || found.message.intercom_part_id) return
  const contact = await resolveContact(deps, found.message.phone, found)
  try {
    await deliverTo(deps, payload, ctx, { found, contact })
  } catch (err) {
    if (!(await followedMerge(deps, contact.id, err))) throw err
    // Read again: the link and the SMS conversation now name the survivor.
    const moved = (await findInboundForDelivery(deps.store.db, payload.messageId))!
    await deliverTo(deps, payload, ctx, { found: moved, contact: await resolveContact(deps, moved.message.phone, moved) })
  }
}

async function deliverTo(
  deps: BridgeDeps,
  payload: DeliverPayload,
  ctx: JobContext,
  { found, contact }: { found: Delivery; contact: ResolvedContact },
): Promise<void> {
  const { message } = found
  const text: TextToThread = {
    createdAt: Math.floor(message.created_at / 1000),
    attachments: mediaUrls(deps.config, message),
    link: { contactId: contact.id, phone: message.phone, twilioNumber: message.twilio_number, others: contact.others },
  }
  const threaded = await threadIntoExisting(deps, payload, ctx, { found, contact, text })
  let { conversationId, partId } = threaded
  if (!conversationId && ctx.job.attempts > 1) {
    // The attempt before may have started the conversation and lost the answer.
    conversationId = (await findStartedConversation(deps, contact.id, text.createdAt, displayBody(message))) ?? null
    if (conversationId) await recordStarted(deps, message.id, { ...text.link, conversationId })
  }
  if (!conversationId) {
    const created = await deps.intercom.startConversation(contact, displayBody(message), text.createdAt, text.attachments)
    conversationId = created.conversationId
    // Recorded before anything else can fail, so a retry never starts a second conversation.
    await recordStarted(deps, message.id, { ...text.link, conversationId })
    partId = `message:${created.messageId}`
  }
  partId ??= `conversation:${conversationId}` // the text opened it
  await recordDelivered(deps, payload, ctx, { message, text, conversationId, partId, asked: threaded.asked })
  ctx.log.info({ phone: maskPhone(message.phone), conversation: conversationId }, 'inbound text is in Intercom')
}

type Delivery = NonNullable<Awaited<ReturnType<typeof findInboundForDelivery>>>

/** What a text is threaded with: its time (seconds), its pictures' links, and the link it goes under. */
interface TextToThread {
  createdAt: number
  attachments: string[]
  link: { contactId: string; phone: string; twilioNumber: string | null; others: OtherContact[] }
}

interface Threaded {
  conversationId: string | null
  partId: string | null
  /** The quick reply this text answers, settled with the delivery. */
  asked: Awaited<ReturnType<typeof openQuickReply>>
}

/**
 * Into the conversation the text already went into (an earlier attempt, or Intercom's own copy when
 * the text came from Twilio's log), else the contact's open (or recently closed) SMS conversation.
 */
async function threadIntoExisting(
  deps: BridgeDeps,
  payload: DeliverPayload,
  ctx: JobContext,
  { found, contact, text }: { found: Delivery; contact: ResolvedContact; text: TextToThread },
): Promise<Threaded> {
  const { message } = found
  // Set only when an earlier attempt already started a conversation with this text.
  const threaded: Threaded = { conversationId: message.intercom_conversation_id, partId: null, asked: undefined }
  if (threaded.conversationId) return threaded
  // Read with the message, unless the contact was only just found (or linked by another process).
  let existing: Pick<SmsConversation, 'intercom_conversation_id' | 'closed_at'> | undefined =
    contact.id === found.link?.intercom_contact_id ? found.conversation : await findSmsConversation(deps.store.db, contact.id)
  // A contact Intercom already had, newly linked: its SMS conversation may predate our records.
  if (!existing && contact.linkedNow && !contact.createdByBridge) existing = await recoverSmsConversation(deps, contact.id)
  if (payload.lookFirst) {
    const delivered = await findDelivered(deps, { contactId: contact.id, existing, createdAt: text.createdAt, body: displayBody(message) })
    if (delivered?.started) await recordStarted(deps, message.id, { ...text.link, conversationId: delivered.conversationId })
    if (delivered) return { ...threaded, conversationId: delivered.conversationId, partId: delivered.partId }
  }
  if (!existing || !reopenable(existing.closed_at, deps.config.reopenWindowDays, deps.clock.now())) return threaded
  // A quick reply texted there last: this text settles it, and chooses a button if it names one.
  threaded.asked = await openQuickReply(deps.store.db, existing.intercom_conversation_id)
  const choice = threaded.asked ? (chosenOption(message.body, threaded.asked.options) ?? undefined) : undefined
  const part = {
    conversationId: existing.intercom_conversation_id,
    contactId: contact.id,
    body: displayBody(message),
    createdAt: text.createdAt,
    attachments: text.attachments,
  }
  threaded.partId = await postAsCustomer(deps, ctx, { ...part, ...(choice ? { choice } : {}) })
  if (threaded.partId) threaded.conversationId = existing.intercom_conversation_id
  return threaded
}

/** The text is in Intercom: recorded with the job's completion, or with its keyword's consent change. */
async function recordDelivered(
  deps: BridgeDeps,
  payload: DeliverPayload,
  ctx: JobContext,
  d: { message: Message; text: TextToThread; conversationId: string; partId: string; asked: Threaded['asked'] },
): Promise<void> {
  const { message, conversationId } = d
  // Twilio's Advanced Opt-Out verdict, when it gave one (it knows the team's custom and localised
  // keywords, "ARRET" say); else the built-in words.
  const keyword = payload.keyword ?? detectKeyword(message.body)
  const delivered = [
    ...setSmsConversation({ ...d.text.link, conversationId }),
    updateMessage(message.id, {
      intercom_part_id: d.partId,
      intercom_conversation_id: conversationId,
      intercom_contact_id: d.text.link.contactId,
      status: 'delivered_to_intercom',
    }),
    ...(d.asked ? [settleQuickReply(d.asked.partId)] : []),
  ]
  // recorded with the job's completion, in one `run` (with a likely request to stop texts, when it reads as one)
  if (!keyword) return void (await ctx.complete(...delivered, ...(await flagRevocation(deps, message, conversationId))))
  await deps.store.transaction(async (trx) => {
    await runIn(trx, ...delivered)
    // Consent changes here, with the text; telling Intercom about it is a job of its own.
    const event = { keyword, messageId: message.id, phone: message.phone, contactId: d.text.link.contactId, conversationId }
    // The ledger keeps the words and which of our numbers they reached; the job's payload does not.
    const evidence = { text: message.body, messageSid: message.twilio_sid, number: message.twilio_number, conversationId }
    await recordKeyword(trx, event, evidence, deps.clock.now())
  })
}

/** Job: tags a conversation the bridge opened, so inbox rules can route SMS. Tagging twice is harmless. */
export async function tagConversation(deps: BridgeDeps, payload: { conversationId: string }): Promise<void> {
  await deps.intercom.tagConversation(payload.conversationId)
}
