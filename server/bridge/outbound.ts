import { z } from 'zod'
import { runIn } from '../../shared/db/statement.js'
import type { Tx } from '../../shared/db/database.js'
import { customerAddress, channelOf } from '../../shared/channel.js'
import { findConversationLink } from '../../shared/db/contacts.js'
import { findHeldMediaBySource, insertHeldMedia } from '../../shared/db/media.js'
import { recordQuickReply } from '../../shared/db/quick-replies.js'
import { recordTwilioOptOut, textingRefusal } from './consent.js'
import {
  createOutboundMessage,
  findMessageBySid,
  getMessage,
  hasMessageForPart,
  outboundTextsOfPart,
  updateMessage,
  type MediaItem,
  type Message,
} from '../../shared/db/messages.js'
import type { Job, SmsConversationLink } from '../../shared/db/schema.js'
import { maskPhone } from '../../shared/log.js'
import { escapeHtml, inlineImages, looksLikeHtml, partBodyToSms, segmentInfo, splitForSms } from '../../shared/text.js'
import { describeTwilioError } from '../../shared/twilio-errors.js'
import type { Config } from '../config.js'
import type { JobContext } from '../queue/worker.js'
import type { BridgeDeps } from './deps.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import { queues } from './keys.js'
import { numberedOptions, partHandling } from './parts.js'
import { MAX_ATTACHMENTS, heldMediaUrl } from './media-links.js'
import { servedType } from '../../shared/mime.js'
import { UpstreamError } from '../../shared/errors.js'
import { uploadLinkExpiresAt } from '../clients/intercom.js'
import type { OutgoingText } from '../clients/twilio.js'
import { chooseSender, senderUsed } from './senders.js'

const id = z.string().min(1)

/** A teammate's conversation part, as the Intercom notification carried it. */
const replyPart = z.object({
  id,
  partType: z.string(),
  body: z.string(),
  authorType: z.string(),
  attachments: z.array(z.object({ url: z.string().min(1), contentType: z.string().nullable(), name: z.string().nullable() })),
  /** A quick reply's buttons (`metadata.quick_reply_options`); absent for every other part. */
  options: z.array(z.object({ text: z.string().min(1), uuid: z.string().min(1) })).optional(),
})
export type ReplyPart = z.output<typeof replyPart>

const replyPayload = z.object({ conversationId: id, part: replyPart })

/** Texting one teammate reply, once per part, in the conversation's order. */
export const replyTask = defineTask('outbound.reply', replyPayload, {
  lane: 'reply',
  run: relayReply,
  onDead: replyGaveUp,
  keys: { reply: (partId: string) => `reply:${partId}` },
})

/** The note that a text did not reach the customer, once per text. */
export const notifyFailureTask = defineTask('outbound.notify_failure', z.object({ messageId: z.number().int().positive() }), {
  lane: 'reply',
  run: notifyFailure,
  keys: { notify: (messageId: number) => `notify:${messageId}` },
})

/** A note for the team in a conversation: each writer keys its note by the effect it reports. */
export const noteTask = defineTask('conversation.note', z.object({ conversationId: id, html: z.string().min(1) }), {
  lane: 'inbound',
  run: postNote,
  keys: {
    /** That a part was not (or not wholly) texted because of its type. */
    partNote: (partId: string) => `partnote:${partId}`,
    mediaNote: (partId: string) => `medianote:${partId}`,
    /** How many texts and segments a reply became. */
    segmentsNote: (partId: string) => `segmentsnote:${partId}`,
    /** That a job ran out of attempts (its id is unique for ever). */
    gaveUp: (jobId: number) => `gaveup:${jobId}`,
    /** A number moved between contacts: one note per move (the same move twice is two notes). */
    relinkNote: (phone: string, contactId: string, at: number) => `relink:${phone}:${contactId}:${at}`,
    /** Other contacts with the number, once per conversation. */
    othersNote: (conversationId: string) => `others:${conversationId}`,
    /** A teammate merged the bridge's lead into a user. */
    mergeNote: (from: string, into: string) => `mergenote:${from}:${into}`,
    /** A text that reads like a request to stop texts, once per text. */
    revocationNote: (messageId: number) => `revocationnote:${messageId}`,
  },
})

/** Marking a conversation read once a reply went by text, once per part. */
export const markReadTask = defineTask('conversation.mark_read', z.object({ conversationId: id }), {
  lane: 'inbound',
  run: markConversationRead,
  keys: { markRead: (partId: string) => `read:${partId}` },
})

/**
 * Whether a conversation part may reach the customer: a teammate's (or, with RELAY_BOT_REPLIES, a
 * bot's) part that PART_TYPES does not skip, with something in it (words, files, or a quick
 * reply's buttons). Whether it is then texted or noted is the reply job's to decide.
 */
export function isCustomerReply(part: ReplyPart, config: Pick<Config, 'relayBotReplies'>): boolean {
  if (partHandling(part.partType) === 'skip') return false
  if (part.authorType !== 'admin' && !(part.authorType === 'bot' && config.relayBotReplies)) return false
  // A quick reply is queued even empty: if its buttons did not come with it, the team is told.
  return part.body.trim() !== '' || part.attachments.length > 0 || partHandling(part.partType) === 'ask' || lostInPlainText(part)
}

/**
 * Whether the webhook's copy of a part may have lost what the teammate sent. Apps on API 2.15 and
 * later get webhook bodies as plain text, which has no room for inline pictures: a body without
 * HTML, or a comment left with nothing at all (a picture alone), is read back through the REST API,
 * which gives HTML whatever the app's webhook version. An empty assignment, open or close is a part
 * with no words, as in 2.14, and is not read back.
 */
function lostInPlainText(part: ReplyPart): boolean {
  if (part.body.trim() === '') return part.partType === 'comment' && part.attachments.length === 0
  return !looksLikeHtml(part.body)
}

/**
 * The part's body as the REST API gives it (HTML, with its inline pictures) when the webhook's may
 * have lost some; the webhook's when the part is no longer in the conversation's first 500 parts.
 */
async function bodyAsWritten(deps: BridgeDeps, conversationId: string, part: ReplyPart): Promise<string> {
  if (!lostInPlainText(part)) return part.body
  const conversation = await deps.intercom.findConversation(conversationId)
  const found = conversation?.conversation_parts?.conversation_parts?.find((p) => p.id === part.id)
  return found?.body ?? part.body
}

/**
 * Queues the parts of a webhook that must become texts. A part seen in another notification is
 * queued once (the job key is the part id).
 */
export async function queueReplies(
  trx: Tx,
  config: Config,
  reply: { conversationId: string; parts: ReplyPart[]; now: number },
): Promise<number> {
  const { conversationId, parts, now } = reply
  let queued = 0
  for (const part of parts) {
    if (!isCustomerReply(part, config)) continue
    const [added] = await runIn(
      trx,
      enqueueTask(
        replyTask,
        { conversationId, part },
        { key: replyTask.keys.reply(part.id), queueKey: queues.conversation(conversationId) },
        now,
      ),
    )
    // None added: the part was queued before (its key is taken).
    if (added.numAffectedRows === 1n) queued++
  }
  return queued
}

/**
 * The words a part becomes on a phone, and the note the team gets instead of (or besides) them: a
 * quick reply's question with its buttons numbered; nothing for a part type the bridge does not
 * know, or a quick reply whose buttons did not come with it.
 */
function partToSms(part: ReplyPart): { text: string; note: string | null } {
  const words = partBodyToSms(part.body)
  const handling = partHandling(part.partType)
  if (handling === 'note') {
    const preview = words ? ` It said: "${escapeHtml(words.slice(0, 160))}".` : ''
    return {
      text: '',
      note: `<p><b>Not texted to the customer:</b> a part of type <code>${escapeHtml(part.partType.slice(0, 80))}</code>, which the bridge does not know.${preview}</p>`,
    }
  }
  if (handling !== 'ask') return { text: words, note: null }
  if (!part.options?.length) {
    const sent = words ? 'Its words were texted without them.' : 'Nothing was texted.'
    return {
      text: words,
      note: `<p><b>A quick reply's buttons did not reach the customer:</b> Intercom's notification did not list them. ${sent}</p>`,
    }
  }
  return { text: [words, numberedOptions(part.options)].filter(Boolean).join('\n'), note: null }
}

/** MMS works from US and Canadian numbers (and Messaging Services, which pick such a sender); WhatsApp carries media everywhere. */
function senderSupportsMedia(from: string | null, config: Config): boolean {
  if (!from) return Boolean(config.twilio.messagingServiceSid)
  return channelOf(from) === 'whatsapp' || from.startsWith('+1')
}

type MediaRef = { url: string; contentType: string | null; name: string | null }

/**
 * The files of a reply as links Twilio can fetch whenever it sends: Intercom's upload links expire
 * within the hour, so those are copied here first and served from the bridge; other links go as they
 * are. What cannot be copied is listed with the reason, for a note.
 */
async function prepareMedia(deps: BridgeDeps, wanted: MediaRef[], ctx: JobContext): Promise<{ media: MediaItem[]; lost: string[] }> {
  const media: MediaItem[] = []
  const lost: string[] = []
  for (const [index, item] of wanted.entries()) {
    const label = item.name ?? fileName(item.url)
    if (index >= MAX_ATTACHMENTS) {
      lost.push(`${label}: a text carries at most ${MAX_ATTACHMENTS} files`)
      continue
    }
    if (!deps.intercom.isUpload(item.url)) {
      media.push({ url: item.url, contentType: item.contentType ?? '' })
      continue
    }
    let held = await findHeldMediaBySource(deps.store.db, item.url)
    if (!held) {
      const copied = await copyUpload(deps, item, label, ctx)
      if (!copied.ok) {
        lost.push(`${label}: ${copied.reason}`)
        continue
      }
      held = copied.held
    }
    media.push({ url: heldMediaUrl(deps.config, held), contentType: held.content_type })
  }
  return { media, lost }
}

/**
 * Copies one of Intercom's uploads into held_media, or says why it cannot go: a type an MMS cannot
 * carry, or a download refused for good. A passing failure throws CopyNotYetMade while a later
 * attempt may still work (see `mayCopyLater`).
 */
async function copyUpload(
  deps: BridgeDeps,
  item: MediaRef,
  label: string,
  ctx: JobContext,
): Promise<{ ok: true; held: { id: number; content_type: string; name: string; created_at: number } } | { ok: false; reason: string }> {
  let fetched: { contentType: string; bytes: Uint8Array }
  try {
    fetched = await deps.intercom.downloadUpload(item.url)
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    if (mayCopyLater(deps, item.url, err, ctx)) throw new CopyNotYetMade(label, err.message)
    return { ok: false, reason: err.message }
  }
  const contentType = servedType(fetched.contentType, item.contentType)
  if (!contentType) return { ok: false, reason: `a text cannot carry a file of this type (${fetched.contentType})` }
  const now = deps.clock.now()
  const id = await deps.store.transaction((trx) =>
    insertHeldMedia(trx, { sourceUrl: item.url, contentType, name: label, bytes: fetched.bytes }, now),
  )
  return { ok: true, held: { id, content_type: contentType, name: label, created_at: now } }
}

/**
 * Thrown by a reply job whose file could not be copied for a passing reason (Intercom's upload host
 * answered 5xx or 429, timed out, or dropped the connection): the worker runs the job again with
 * backoff. Nothing was stored or sent yet, so the customer gets the text and its picture once, together.
 */
class CopyNotYetMade extends Error {
  constructor(label: string, reason: string) {
    super(`${label} could not be copied yet (${reason}); the reply waits for it`)
    this.name = 'CopyNotYetMade'
  }
}

/**
 * Whether a failed copy is worth another attempt: a passing failure, while the link still works (its
 * `expires`, else about 30 minutes after the webhook) and the job has attempts left (its last one
 * sends the reply without the file, with the note, rather than not at all). A refused or expired
 * link (403, 404, 410) is final at once.
 */
function mayCopyLater(deps: Pick<BridgeDeps, 'clock'>, url: string, failure: UpstreamError, ctx: JobContext): boolean {
  if (failure.outcome === 'give_up') return false
  if (ctx.job.attempts >= ctx.job.max_attempts) return false
  return deps.clock.now() < uploadLinkExpiresAt(url, ctx.job.created_at)
}

function fileName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').pop() || 'file')
  } catch {
    return 'file'
  }
}

/** What a reply becomes: the texts to send (the files ride with the first), from which sender. */
interface ComposedReply {
  chunks: string[]
  media: MediaItem[]
  mms: boolean
  recorded: string | null
}

type Reply = z.output<typeof replyPayload>

/**
 * Job: turns one teammate reply into one or more texts to the conversation's customer. The steps:
 * is it an SMS conversation's reply, compose the texts, record them (or the refusal), send them.
 */
export async function relayReply(deps: BridgeDeps, payload: Reply, ctx: JobContext): Promise<void> {
  const db = deps.store.db
  // The contact's current SMS conversation or an older one: a reply in either goes to the phone.
  const link = await findConversationLink(db, payload.conversationId)
  if (!link) return // not an SMS conversation
  if (await hasMessageForPart(db, payload.part.id, 'inbound')) return // a part the bridge itself posted

  const composed = await composeReply(deps, { ...payload, phone: link.phone, twilioNumber: link.twilio_number }, ctx)
  if (!composed) return // nothing to send
  const refused = await recordTexts(deps, { ...payload, link }, composed)
  if (refused) return
  await sendRecordedTexts(deps, payload, ctx)
}

/**
 * The reply's words and files as texts, with the notes a teammate should read (what the text leaves
 * out, the files that could not go). Null when nothing is left to text.
 */
async function composeReply(
  deps: BridgeDeps,
  reply: Reply & { phone: string; twilioNumber: string | null },
  ctx: JobContext,
): Promise<ComposedReply | null> {
  const { conversationId, part } = reply
  const { from, recorded } = await chooseSender(deps, { phone: reply.phone, conversationNumber: reply.twilioNumber })
  const body = await bodyAsWritten(deps, conversationId, part)
  const { text: words, note } = partToSms({ ...part, body })
  if (note)
    await deps.store.run(enqueueTask(noteTask, { conversationId, html: note }, { key: noteTask.keys.partNote(part.id) }, deps.clock.now()))
  if (partHandling(part.partType) === 'note') return null // neither its words nor its files
  let text = words
  // One picture more than a text carries, so a reply with too many gets its note.
  const pictures = inlineImages(body, MAX_ATTACHMENTS + 1)
  const wanted: MediaRef[] = [...pictures.map((url) => ({ url, contentType: null, name: null })), ...part.attachments]
  const { media, lost } = await prepareMedia(deps, wanted, ctx)
  const mms = media.length > 0 && senderSupportsMedia(from, deps.config)
  if (media.length > 0 && !mms) text = [text, ...media.map((m) => m.url)].filter(Boolean).join('\n')
  if (lost.length > 0) await noteLostFiles(deps, reply, { lost, textSent: Boolean(text || mms) })
  if (!text && !mms) return null
  return { chunks: text ? splitForSms(text) : [''], media, mms, recorded }
}

/** One note listing the files of a reply that did not reach the customer, and what was texted instead. */
async function noteLostFiles(
  deps: BridgeDeps,
  { conversationId, part }: Reply,
  files: { lost: string[]; textSent: boolean },
): Promise<void> {
  const what = files.lost.map((l) => `<li>${escapeHtml(l)}</li>`).join('')
  const sent = files.textSent ? 'The rest of the reply was texted.' : 'Nothing else was in the reply, so no text was sent.'
  const html = `<p><b>Not every file of this reply reached the customer by text:</b></p><ul>${what}</ul><p>${sent}</p>`
  await deps.store.run(enqueueTask(noteTask, { conversationId, html }, { key: noteTask.keys.mediaNote(part.id) }, deps.clock.now()))
}

/**
 * Records the reply's texts, pending, or refused with the reason (and one note queued) when the
 * customer may not be texted; a quick reply's buttons with them. True when refused.
 */
async function recordTexts(deps: BridgeDeps, reply: Reply & { link: SmsConversationLink }, composed: ComposedReply): Promise<boolean> {
  const { conversationId, part, link } = reply
  const refusal = await textingRefusal(deps, { phone: link.phone, automated: false })
  const refused = refusal !== null
  const now = deps.clock.now()
  await deps.store.transaction(async (trx) => {
    for (const [index, chunk] of composed.chunks.entries()) {
      const id = await createOutboundMessage(
        trx,
        {
          conversationId,
          contactId: link.intercom_contact_id,
          part: { id: part.id, index },
          phone: link.phone,
          from: composed.recorded,
          body: chunk,
          media: index === 0 && composed.mms ? composed.media : [],
          status: refused ? 'refused' : 'pending',
          errorMessage: refusal?.sentence ?? null,
        },
        now,
      )
      if (id !== undefined && refused && index === 0) {
        await runIn(trx, enqueueTask(notifyFailureTask, { messageId: id }, { key: notifyFailureTask.keys.notify(id) }, deps.clock.now()))
      }
    }
    // What the customer was asked, so their "1" or "Yes" can be answered as the button.
    if (part.options?.length && !refused && partHandling(part.partType) === 'ask') {
      await recordQuickReply(trx, { partId: part.id, conversationId, options: part.options }, now)
    }
  })
  return refused
}

/** Sends the part's texts still pending, in order, stopping at a permanent failure; then its follow-ups. */
async function sendRecordedTexts(deps: BridgeDeps, { conversationId, part }: Reply, ctx: JobContext): Promise<void> {
  const rows = await outboundTextsOfPart(deps.store.db, part.id)
  let sentAny = false
  for (const row of rows) {
    if (row.twilio_sid) {
      sentAny = true
      continue
    }
    if (row.status !== 'pending') continue
    const sent = await sendMessage(deps, row, ctx)
    if (!sent) break // a permanent failure: the rest of this reply is not sent either
    sentAny = true
  }
  if (sentAny) await noteSegments(deps, conversationId, part.id)
  if (sentAny && deps.config.markReadAfterSms) {
    // Intercom emails a contact who has an address about replies they have not "seen": once the
    // reply went by text, it is seen, and the customer does not get it twice.
    await deps.store.run(enqueueTask(markReadTask, { conversationId }, { key: markReadTask.keys.markRead(part.id) }, deps.clock.now()))
  }
}

/** Above this many segments a reply gets its note even as one GSM-7 text (each segment is billed as a text). */
export const NOTE_ABOVE_SEGMENTS = 3

/**
 * One note (once per reply) when a reply went out as more than one text, as UCS-2 taking more than
 * one segment, or as more than NOTE_ABOVE_SEGMENTS segments: what it became, and why, so the
 * teammate sees what the customer's phone shows and what Twilio bills.
 */
async function noteSegments(deps: BridgeDeps, conversationId: string, partId: string): Promise<void> {
  const sent = (await outboundTextsOfPart(deps.store.db, partId)).filter((r) => r.twilio_sid)
  const segments = sent.reduce((sum, r) => sum + (r.num_segments ?? segmentInfo(r.body).segments), 0)
  const nonGsm = sent.map((r) => segmentInfo(r.body).forcedUcs2[0]).find((c) => c !== undefined) ?? null
  if (sent.length <= 1 && segments <= NOTE_ABOVE_SEGMENTS && !(nonGsm && segments > 1)) return
  const texts = `${sent.length} text${sent.length === 1 ? '' : 's'}`
  const why = nonGsm ? ` (UCS-2 because of "${escapeHtml(nonGsm)}": 70 characters a segment instead of 160)` : ''
  const html = `<p>Sent as ${texts}, ${segments} segment${segments === 1 ? '' : 's'}${why}.</p>`
  await deps.store.run(enqueueTask(noteTask, { conversationId, html }, { key: noteTask.keys.segmentsNote(partId) }, deps.clock.now()))
}

/**
 * A reply job that ran out of attempts (Twilio unreachable for hours, say): the teammate's words did
 * not reach the customer, so the conversation says so, with how to send it once the cause is fixed.
 * Runs in the transaction that buries the job.
 */
export async function replyGaveUp(
  trx: Tx,
  { conversationId, part }: z.output<typeof replyPayload>,
  job: Job,
  error: string,
): Promise<void> {
  if (!(await findConversationLink(trx, conversationId))) return
  const preview = partBodyToSms(part.body).slice(0, 80)
  const html =
    `<p><b>This reply was not texted to the customer</b> (${escapeHtml(error.slice(0, 300))}).</p>` +
    `<p>Reply: "${escapeHtml(preview)}". When the cause is fixed, <code>sms-bridge jobs retry ${job.id}</code> sends it.</p>`
  await runIn(trx, enqueueTask(noteTask, { conversationId, html }, { key: noteTask.keys.gaveUp(job.id) }, job.updated_at))
}

/** Job: marks a conversation read in Intercom (PUT /conversations/{id} {"read": true}). */
export async function markConversationRead(deps: BridgeDeps, payload: { conversationId: string }): Promise<void> {
  await deps.intercom.markRead(payload.conversationId)
}

/** Job: one note in a conversation, for the team only. */
export async function postNote(deps: BridgeDeps, payload: { conversationId: string; html: string }): Promise<void> {
  await deps.intercom.addNote(payload.conversationId, payload.html)
}

/**
 * Sends one stored outbound text through Twilio, at most once. Twilio's create is not idempotent:
 * when an earlier attempt may have reached Twilio (timeout, 5xx), its message log is searched first.
 * Returns false on a permanent failure (recorded, and the team told), throws to be retried.
 */
/** A send this much later than its text or job was made may follow work our records lost. */
export const LOOK_FIRST_AFTER_MS = 2 * 60_000

/**
 * Since when Twilio's log may already hold this text, when it may: an earlier attempt that got no
 * answer, or a send long after the text or its job was made (a restored database, or one moved to
 * Turso, replays work the old one finished after the copy; an outage delays work too). Null for an
 * ordinary first send, which asks Twilio for nothing.
 */
function lookSince(deps: Pick<BridgeDeps, 'clock'>, row: Message, ctx: JobContext): number | null {
  if (row.send_attempted_at) return row.send_attempted_at
  const made = Math.min(row.created_at, ctx.job.created_at)
  return deps.clock.now() - made > LOOK_FIRST_AFTER_MS ? made : null
}

export async function sendMessage(
  deps: BridgeDeps,
  row: Message,
  ctx: JobContext,
  opts: { notifyFailure?: boolean } = {},
): Promise<boolean> {
  const to = customerAddress(row.phone, row.twilio_number)
  const since = lookSince(deps, row, ctx)
  if (since !== null) {
    const recent = await deps.twilio.recentTextsTo(to)
    const candidates = recent.filter(
      (m) =>
        m.direction !== 'inbound' &&
        m.body === row.body &&
        m.createdAt.getTime() >= since - 60_000 &&
        (row.twilio_number === m.from || row.twilio_number === m.messagingServiceSid),
    )
    // A text another row already owns is that row's (the same words sent twice are two texts).
    let match: (typeof candidates)[number] | undefined
    for (const m of candidates) if (!match && !(await findMessageBySid(deps.store.db, m.sid))) match = m
    if (match) {
      await deps.store.run(
        updateMessage(row.id, { twilio_sid: match.sid, status: match.status, num_segments: match.numSegments ?? row.num_segments }),
      )
      deps.metrics.segmentsSent.inc({ direction: 'outbound' }, match.numSegments ?? row.num_segments ?? 0)
      ctx.log.info({ sid: match.sid }, 'an earlier attempt had reached Twilio; not sending again')
      return true
    }
  }
  await deps.store.run(updateMessage(row.id, { send_attempted_at: deps.clock.now() }))
  const from = await sendingFrom(deps, row)
  // Thrown when Twilio's answer leaves it open (no answer, 5xx, 429): the retry looks before it sends.
  const sent = await deps.twilio.send({ to, from, body: row.body, mediaUrls: row.media.map((m) => m.url) })
  if (!sent.ok) {
    await recordFailure(deps, row, sent, opts.notifyFailure ?? true)
    return false
  }
  await deps.store.run(
    updateMessage(row.id, { twilio_sid: sent.sid, status: sent.status, num_segments: sent.numSegments ?? row.num_segments }),
    ...senderUsed(row.phone, from.number, row.created_at),
  )
  deps.metrics.segmentsSent.inc({ direction: 'outbound' }, sent.numSegments ?? row.num_segments ?? 0)
  ctx.log.info({ sid: sent.sid, phone: maskPhone(row.phone) }, 'reply sent as SMS')
  return true
}

/**
 * Twilio's `From` (and service) for a stored text: its number; or through the Messaging Service,
 * with the customer's sender (chooseSender, asked now) when the bridge has one for them, else the
 * service picks from its pool.
 */
async function sendingFrom(deps: BridgeDeps, row: Message): Promise<OutgoingText['from']> {
  const service = deps.config.twilio.messagingServiceSid
  if (!service || channelOf(row.twilio_number) !== 'sms') return { number: row.twilio_number! }
  const { from } = await chooseSender(deps, { phone: row.phone, conversationNumber: row.twilio_number })
  return { messagingServiceSid: service, number: from }
}

/** Marks a text failed for good, records an opt-out Twilio reported, and queues one note. */
async function recordFailure(
  deps: BridgeDeps,
  row: Message,
  refused: { code: number | null; message: string },
  notify: boolean,
): Promise<void> {
  const { code, message } = refused
  await deps.store.transaction(async (trx) => {
    await runIn(trx, updateMessage(row.id, { status: 'failed', error_code: code, error_message: describeTwilioError(code, message) }))
    await recordTwilioOptOut(
      trx,
      { phone: row.phone, code, messageSid: row.twilio_sid, number: row.twilio_number, conversationId: row.intercom_conversation_id },
      deps.clock.now(),
    )
    if (notify && row.intercom_conversation_id) {
      await runIn(
        trx,
        enqueueTask(notifyFailureTask, { messageId: row.id }, { key: notifyFailureTask.keys.notify(row.id) }, deps.clock.now()),
      )
    }
  })
}

/** How a failed text went, when not plain SMS: by RCS, or by RCS and then the SMS sent in its place. */
function channelPhrase(message: Message): string {
  if (message.fallback_sid) return ' by RCS, nor by the SMS Twilio sent in its place'
  return message.channel === 'rcs' ? ' by RCS' : ''
}

/** Job: one note in the conversation saying, in plain words, that a text did not reach the customer. */
export async function notifyFailure(deps: BridgeDeps, payload: { messageId: number }): Promise<void> {
  const message = await getMessage(deps.store.db, payload.messageId)
  // A text outside any conversation (a welcome before the first one): the sidebar shows its status.
  if (!message?.intercom_conversation_id) return
  const preview = message.body.length > 80 ? `${message.body.slice(0, 77)}...` : message.body
  const html =
    message.status === 'refused'
      ? `<p><b>Not sent as SMS:</b> ${escapeHtml(message.error_message ?? 'the customer may not be texted.')}</p><p>Reply: "${escapeHtml(preview)}"</p>`
      : `<p><b>The text did not reach the customer</b>${channelPhrase(message)}${message.error_code ? ` (Twilio error ${message.error_code})` : ''}: ${escapeHtml(message.error_message ?? describeTwilioError(message.error_code))}</p>` +
        `<p>Reply: "${escapeHtml(preview)}"${message.twilio_sid ? ` — Twilio MessageSid ${message.twilio_sid}` : ''}${message.fallback_sid ? `, SMS fallback ${message.fallback_sid}` : ''}</p>`
  await deps.intercom.addNote(message.intercom_conversation_id, html)
}
