import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { applyConversationState } from '../../shared/db/contacts.js'
import { recordReceipt } from '../../shared/db/receipts.js'
import { noteUnhandledTopic } from '../../shared/db/cache.js'
import { verifyIntercomWebhook } from '../../shared/signatures.js'
import { keepRawJson } from './raw-json.js'
import { answersProbes } from './probes.js'
import { queueReplies, type ReplyPart } from '../bridge/outbound.js'
import { requestAutomated } from '../bridge/automated.js'

// Real notifications carry nulls where the reference promises values (author ids, attachment names
// and content types, the ping's id): everything the bridge does not strictly need may be null or
// missing, so one odd field never fails a whole notification on every retry.
const id = z.union([z.string(), z.number()]).transform(String)
const part = z.looseObject({
  id: id.nullish(),
  part_type: z.string().nullish(),
  body: z.string().nullish(),
  created_at: z.unknown(),
  author: z.looseObject({ type: z.string().nullish(), id: id.nullish() }).nullish(),
  attachments: z
    .array(z.looseObject({ url: z.string().nullish(), content_type: z.string().nullish(), name: z.string().nullish() }).nullable())
    .nullish(),
})

/** Seconds since the epoch; captured contact notifications give ISO 8601 strings instead. */
const seconds = z.union([z.number(), z.string()]).transform((v) => (typeof v === 'number' ? v : Date.parse(v) / 1000)).pipe(z.number()).nullish().catch(null)

const itemSchema = z.looseObject({
  id: id.nullish(),
  state: z.string().nullish().catch(null),
  open: z.boolean().nullish().catch(null),
  updated_at: seconds,
  conversation_parts: z.looseObject({ conversation_parts: z.array(part.nullable()).nullish() }).nullish(),
})

/** The envelope every topic shares; the item is read only for the topics the bridge handles. */
const notification = z.looseObject({
  type: z.literal('notification_event'),
  id: z.string().nullish(),
  topic: z.string().min(1),
  created_at: seconds,
  data: z.looseObject({ item: z.looseObject({}).nullish() }),
})

/** The webhook topics the bridge handles: `sms-bridge setup` tells the operator to tick these. */
export const WEBHOOK_TOPICS = [
  'conversation.admin.replied',
  'conversation.operator.replied',
  'conversation.admin.closed',
  'conversation.admin.opened',
  'contact.user.created',
  'contact.lead.created',
] as const
/**
 * Handled when ticked, though not needed: a reply that assigns the conversation arrives on these as
 * well as on conversation.admin.replied (captured notifications carry the same part), and the part id
 * makes it one text whichever arrives first.
 */
const ALSO_HANDLED = ['conversation.admin.assigned', 'conversation.admin.open.assigned']
const TOPICS = new Set<string>([...WEBHOOK_TOPICS, ...ALSO_HANDLED])
/** Topics whose item is a conversation with new parts that may be a teammate's words to the customer. */
const REPLY_TOPICS = new Set(['conversation.admin.replied', 'conversation.operator.replied', 'conversation.admin.closed', 'conversation.admin.opened', ...ALSO_HANDLED])

type Item = z.output<typeof itemSchema>

function toReplyParts(item: Item): ReplyPart[] {
  const parts: ReplyPart[] = []
  for (const p of item.conversation_parts?.conversation_parts ?? []) {
    if (!p?.id) continue // nothing to key it by; Intercom always sends one for real parts
    parts.push({
      id: p.id,
      partType: p.part_type ?? 'unknown',
      body: p.body ?? '',
      authorType: p.author?.type ?? 'unknown',
      attachments: (p.attachments ?? [])
        .filter((a): a is NonNullable<typeof a> & { url: string } => typeof a?.url === 'string' && a.url !== '')
        .map((a) => ({ url: a.url, contentType: a.content_type ?? null, name: a.name ?? null })),
    })
  }
  return parts
}

/** Intercom's state for the conversation, when the notification says it. */
function stateOf(item: Item, at: number): { closed: boolean; at: number } | null {
  const state = item.state ?? (item.open === true ? 'open' : item.open === false ? 'closed' : null)
  if (!state) return null
  return { closed: state === 'closed', at }
}

/** Intercom webhooks. Checked, stored and queued in one transaction, answered at once. */
const intercom: FastifyPluginAsync = async (app) => {
  keepRawJson(app)
  answersProbes(app, '/intercom/webhooks', 'Intercom webhooks')

  app.post('/intercom/webhooks', async (req, reply) => {
    const invalid = (error: z.ZodError, prefix = '') => {
      const issue = error.issues[0]!
      return reply.code(400).send({ error: { code: 'invalid_notification', message: `${prefix}${issue.path.join('.')}: ${issue.message}` } })
    }
    const signature = req.headers['x-hub-signature']
    if (!req.rawBody || !verifyIntercomWebhook(app.config.intercom.clientSecret, req.rawBody, typeof signature === 'string' ? signature : undefined)) {
      app.refusals.note(req, { surface: 'intercom_webhooks', reason: typeof signature === 'string' && signature !== '' ? 'mismatch' : 'missing_header', header: 'X-Hub-Signature' })
      return reply.code(401).send({ error: { code: 'bad_signature', message: 'The X-Hub-Signature header is missing or does not match.' } })
    }
    const parsed = notification.safeParse(req.body)
    if (!parsed.success) return invalid(parsed.error)
    const event = parsed.data
    // Intercom's "Send test" ping (its id is null): answered, nothing to keep.
    if (event.topic === 'ping') return reply.code(200).send({ ok: true })
    if (!TOPICS.has(event.topic)) {
      // Ticked by mistake. An error answer would count towards Intercom pausing the whole
      // subscription (1,000 in 15 minutes), so it is answered 200 with nothing stored but a count,
      // which /metrics shows and `sms-bridge doctor` names as a topic to untick.
      const topic = event.topic.replace(/[^\w.-]/g, '').slice(0, 100) || 'unnamed'
      app.metrics.unhandledTopics.inc({ topic })
      await app.store.write((trx) => noteUnhandledTopic(trx, topic))
      return reply.code(200).send({ ok: true, ignored: `The bridge does not handle the topic "${topic}": untick it in the app's webhook topics.` })
    }
    const parsedItem = itemSchema.nullish().safeParse(event.data.item)
    if (!parsedItem.success) return invalid(parsedItem.error, 'data.item.')
    const item = parsedItem.data
    // The item is a conversation for conversation topics and a contact for contact topics.
    const itemId = item?.id
    const at = (item?.updated_at ?? event.created_at ?? Date.now() / 1000) * 1000
    // A real notification always has an id; should one not, the item and its time key it instead.
    const receipt = event.id || `${event.topic}:${itemId ?? 'none'}:${at}`
    const queued = await app.store.write(async (trx) => {
      if (!(await recordReceipt(trx, 'intercom', receipt))) return 0
      if ((event.topic === 'contact.user.created' || event.topic === 'contact.lead.created') && itemId) {
        if (!app.config.welcome.template) return 0
        const phone = (item as { phone?: unknown }).phone
        const { created } = await requestAutomated(trx, {
          key: `welcome:${itemId}`,
          kind: 'welcome',
          contactId: itemId,
          phone: typeof phone === 'string' ? phone : null,
          requestedBy: event.topic,
        })
        return created ? 1 : 0
      }
      if (!REPLY_TOPICS.has(event.topic) || !item || !itemId) return 0
      const state = stateOf(item, at) ?? (event.topic === 'conversation.admin.closed' ? { closed: true, at } : null)
      if (state) await applyConversationState(trx, itemId, state)
      return queueReplies(trx, app.config, itemId, toReplyParts(item))
    })
    if (queued > 0) app.worker.wake()
    return reply.code(200).send({ ok: true })
  })
}

export default intercom
