import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { answersProbes, parseBody } from '../../shared/http.js'
import { handlesTopic, recordNotification, type IntercomNotification } from '../bridge/notifications.js'
import type { ReplyPart } from '../bridge/outbound.js'
import { signedBy } from './signed-by.js'

export { WEBHOOK_TOPICS } from '../bridge/notifications.js'

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
  // A quick reply's buttons (2.16's conversation_part_metadata). Anything odd here drops the
  // options, never the part: the part is still handled as its type says.
  metadata: z
    .looseObject({ quick_reply_options: z.array(z.looseObject({ text: z.string().min(1), uuid: id })).nullish() })
    .nullish()
    .catch(null),
})

/** Seconds since the epoch; captured contact notifications give ISO 8601 strings instead. */
const seconds = z
  .union([z.number(), z.string()])
  .transform((v) => (typeof v === 'number' ? v : Date.parse(v) / 1000))
  .pipe(z.number())
  .nullish()
  .catch(null)

/** The item: a conversation for conversation topics, a contact for contact topics. */
const itemSchema = z.looseObject({
  id: id.nullish(),
  state: z.string().nullish().catch(null),
  open: z.boolean().nullish().catch(null),
  phone: z.unknown().optional(),
  updated_at: seconds,
  conversation_parts: z.looseObject({ conversation_parts: z.array(part.nullable()).nullish() }).nullish(),
})
type Item = z.output<typeof itemSchema>

/** The envelope every topic shares; the item is read only for the topics the bridge handles. */
const notification = z.looseObject({
  type: z.literal('notification_event'),
  id: z.string().nullish(),
  app_id: z.string().nullish(),
  topic: z.string().min(1),
  created_at: seconds,
  data: z.looseObject({ item: z.looseObject({}).nullish() }),
})

function toReplyParts(item: Item | null | undefined): ReplyPart[] {
  const parts: ReplyPart[] = []
  for (const p of item?.conversation_parts?.conversation_parts ?? []) {
    if (!p?.id) continue // nothing to key it by; Intercom always sends one for real parts
    parts.push({
      id: p.id,
      partType: p.part_type ?? 'unknown',
      body: p.body ?? '',
      authorType: p.author?.type ?? 'unknown',
      attachments: (p.attachments ?? [])
        .filter((a): a is NonNullable<typeof a> & { url: string } => typeof a?.url === 'string' && a.url !== '')
        .map((a) => ({ url: a.url, contentType: a.content_type ?? null, name: a.name ?? null })),
      ...(p.metadata?.quick_reply_options?.length
        ? { options: p.metadata.quick_reply_options.map((o) => ({ text: o.text, uuid: o.uuid })) }
        : {}),
    })
  }
  return parts
}

/** Intercom's state for the conversation, when the notification says it. */
function stateOf(item: Item | null | undefined): { closed: boolean } | null {
  const state = item?.state ?? (item?.open === true ? 'open' : item?.open === false ? 'closed' : null)
  return state ? { closed: state === 'closed' } : null
}

/** Intercom webhooks: signed, parsed into one notification, recorded and queued by the bridge, answered at once. */
/**
 * The largest notification taken. Captured ones are at most 5 KB, but every conversation
 * notification repeats the conversation's first message, which may be a long HTML email, and a
 * notification refused on every retry counts towards Intercom pausing the subscription: generous,
 * and still bounded (held only by a request that sent X-Hub-Signature, and only until the timeouts).
 */
export const INTERCOM_BODY_LIMIT = 1024 * 1024

const intercom: FastifyPluginAsync = async (app) => {
  const signed = signedBy(app, 'intercom_webhooks', { bodyLimit: INTERCOM_BODY_LIMIT })
  answersProbes(app, '/intercom/webhooks', 'Intercom webhooks')

  app.post('/intercom/webhooks', {
    ...signed,
    handler: async (req, reply) => {
      const envelope = parseBody(notification, req.body, 'invalid_notification')
      // Intercom signs for the app, and sends every workspace that installed it to this one URL: a
      // notification from another workspace names its conversations and contacts, whose ids may be
      // ours too. It is dropped, but answered 200: error answers count against the app's webhook
      // subscription, which Intercom pauses after 1,000 of them in a row, and that would stop our own
      // workspace's notifications too; a retry would get the same answer anyway. A notification with
      // no app_id is taken: every capture has one, and only Intercom can sign one.
      if (envelope.app_id != null && envelope.app_id !== (await app.bridge.intercom.workspaceId())) {
        req.log.warn(
          { workspace: envelope.app_id.slice(0, 64), topic: envelope.topic.slice(0, 64) },
          'Intercom notification from another workspace dropped',
        )
        return reply
          .code(200)
          .send({ ok: false, refused: 'This notification is for another Intercom workspace; this bridge serves one workspace only.' })
      }
      // Intercom's "Send test" ping (its id is null): answered, nothing to keep.
      if (envelope.topic === 'ping') return reply.code(200).send({ ok: true })
      const item = handlesTopic(envelope.topic)
        ? parseBody(itemSchema.nullish(), envelope.data.item, 'invalid_notification', { prefix: 'data.item.' })
        : null
      const itemId = item?.id ?? null
      const at = (item?.updated_at ?? envelope.created_at ?? app.bridge.clock.now() / 1000) * 1000
      const event: IntercomNotification = {
        // A real notification always has an id; should one not, the item and its time key it instead.
        receipt: envelope.id || `${envelope.topic}:${itemId ?? 'none'}:${at}`,
        topic: envelope.topic,
        at,
        itemId,
        state: stateOf(item),
        phone: typeof item?.phone === 'string' ? item.phone : null,
        parts: toReplyParts(item),
      }
      const outcome = await recordNotification(app.bridge, event)
      if (outcome.kind === 'ignored') {
        return reply
          .code(200)
          .send({ ok: true, ignored: `The bridge does not handle the topic "${outcome.topic}": untick it in the app's webhook topics.` })
      }
      return reply.code(200).send({ ok: true })
    },
  })
}

export default intercom
