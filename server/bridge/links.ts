import { z } from 'zod'
import { runIn } from '../../shared/db/statement.js'
import {
  conversationsLinkedTo,
  createdLinksOf,
  findPhoneContact,
  findSmsConversation,
  moveContactRecords,
  othersOf,
  setLinkMarked,
  unmarkedLinks,
} from '../../shared/db/contacts.js'
import type { Tx } from '../../shared/db/database.js'
import { UpstreamError } from '../../shared/errors.js'
import type { JobContext } from '../queue/worker.js'
import { escapeHtml } from '../../shared/text.js'
import type { BridgeDeps } from './deps.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import { queues } from './keys.js'
import { MARK_ATTRIBUTE, phoneMark } from './trust.js'
import { CONTACT_ATTRIBUTES } from './contact-attributes.js'
import { noteTask } from './outbound.js'
import { syncAttributesTask } from './status.js'

const id = z.string().min(1)
const markPayload = z.object({ contactId: id, phone: id })
const mergePayload = z.object({ from: id, into: id, conversationId: id.nullable(), adminName: z.string().nullable() })

/** Writing the bridge's mark for a link on its contact, once per link. */
export const markTask = defineTask('contact.mark', markPayload, {
  lane: 'automated',
  run: markContact,
  keys: { mark: (phone: string, contactId: string) => `mark:${phone}:${contactId}` },
})

/** A teammate's merge of the bridge's lead into a user, once per pair. */
export const mergeTask = defineTask('contact.merge', mergePayload, {
  lane: 'automated',
  run: mergeContact,
  keys: { merge: (from: string, into: string) => `merge:${from}:${into}` },
})

/**
 * The bridge's links between numbers and contacts, as Intercom sees them: the mark written on a
 * linked contact (so the link survives the loss of our database), a teammate's merge of the
 * bridge's lead into a user, and a merge done in Intercom that the bridge learns of when the old
 * contact's id no longer answers.
 */

/**
 * Job: writes the bridge's mark for a link on the contact; nothing when the link has moved on since.
 * It runs once for every new customer, so it costs one read and one write (recorded with the job's
 * completion) beside its Intercom call.
 */
export async function markContact(deps: BridgeDeps, payload: z.output<typeof markPayload>, ctx: JobContext): Promise<void> {
  const link = await findPhoneContact(deps.store.db, payload.phone)
  if (link?.intercom_contact_id !== payload.contactId) return
  await deps.intercom.ensureContactAttribute(CONTACT_ATTRIBUTES.phoneMark)
  try {
    await deps.intercom.updateContact(
      payload.contactId,
      { customAttributes: { [MARK_ATTRIBUTE]: phoneMark(deps.config, payload.contactId, payload.phone) } },
      'mark the contact with its number',
    )
  } catch (err) {
    // Merged in Intercom: the link moves to the survivor, whose own mark job (queued by the move) marks it.
    if (await followedMerge(deps, payload.contactId, err)) return
    throw err
  }
  await ctx.complete(setLinkMarked(payload.phone, payload.contactId, deps.clock.now()))
}

/** Links made before marks existed (or whose mark never got written) get one, a batch a day. */
export async function markUnmarkedLinks(deps: Pick<BridgeDeps, 'store'>, now: number, limit = 500): Promise<number> {
  const links = await unmarkedLinks(deps.store.db, limit)
  if (links.length === 0) return 0
  await deps.store.run(
    ...links.map((l) =>
      enqueueTask(
        markTask,
        { contactId: l.intercom_contact_id, phone: l.phone },
        { key: markTask.keys.mark(l.phone, l.intercom_contact_id), queueKey: queues.contact(l.intercom_contact_id) },
        now,
      ),
    ),
  )
  return links.length
}

/** `not_mergeable`: the user is no longer one the lead may be merged into (merged already, or moved on). */
export type MergeOutcome = { kind: 'queued'; into: { id: string; name: string | null } } | { kind: 'refused'; reason: 'not_mergeable' }

/**
 * "Merge" in the SMS panel: the bridge's own lead for a number into a user who also has it (shown
 * only where a user's phone is not trusted by itself, MATCH_USERS_BY_PHONE=false). Queued, so it
 * runs once whatever is clicked twice.
 */
export async function mergeFromPanel(
  deps: BridgeDeps,
  ctx: { contact: { id: string }; conversationId: string | null; adminName: string | null },
  into: string,
): Promise<MergeOutcome> {
  const candidates = await mergeCandidates(deps, ctx.contact.id)
  const user = candidates.find((c) => c.id === into)
  if (!user) return { kind: 'refused', reason: 'not_mergeable' }
  await deps.store.run(
    enqueueTask(
      mergeTask,
      { from: ctx.contact.id, into, conversationId: ctx.conversationId, adminName: ctx.adminName },
      { key: mergeTask.keys.merge(ctx.contact.id, into), queueKey: queues.contact(ctx.contact.id) },
      deps.clock.now(),
    ),
  )
  return { kind: 'queued', into: user }
}

/** Users the bridge's own lead for a number may be merged into: those it found with the number. */
export async function mergeCandidates(
  deps: Pick<BridgeDeps, 'store'>,
  contactId: string,
): Promise<Array<{ id: string; name: string | null }>> {
  const others = (await createdLinksOf(deps.store.db, contactId)).flatMap(othersOf)
  return others.filter((o) => o.role === 'user').map((o) => ({ id: o.id, name: o.name }))
}

/**
 * Our records of a contact become the ones of the contact it was merged into, which is then asked to
 * carry the bridge's mark for each number moved (the one way a link is found again without our
 * records, and what trust.ts reads) and the last text's status (the texts moved with the links: a
 * status job still naming the old id finds none). Returns the numbers moved.
 */
async function moveLinks(trx: Tx, from: string, into: string, how: { source: 'teammate' | 'merged'; now: number }): Promise<string[]> {
  const { source, now } = how
  const phones = await moveContactRecords(trx, { from, into, source })
  for (const phone of phones) {
    await runIn(
      trx,
      enqueueTask(markTask, { contactId: into, phone }, { key: markTask.keys.mark(phone, into), queueKey: queues.contact(into) }, now),
    )
  }
  if (phones.length > 0)
    await runIn(
      trx,
      enqueueTask(
        syncAttributesTask,
        { contactId: into },
        { key: syncAttributesTask.keys.syncMerged(from, into), queueKey: queues.contact(into) },
        now,
      ),
    )
  return phones
}

/** How many of a contact's SMS conversations are read to find whom Intercom moved them to (2.14 says no more than 404). */
const CONVERSATIONS_TO_READ = 3

/**
 * The contact Intercom merged this one into: the one its 410 names (2.16), or, when it answers 404
 * (2.14, which says no more), the one alone in the contact's SMS conversation now, since Intercom
 * moves a merged lead's conversations to the user. Null when the contact is still there, or gone
 * for good (deleted: its conversations went with it).
 */
async function survivorOf(deps: BridgeDeps, contactId: string): Promise<string | null> {
  const where = await deps.intercom.locateContact(contactId)
  if (where.kind === 'merged') return where.into
  if (where.kind === 'found') return null
  for (const id of await conversationsLinkedTo(deps.store.db, contactId, CONVERSATIONS_TO_READ)) {
    const people = (await deps.intercom.findConversation(id))?.contacts?.contacts ?? []
    const other = people.length === 1 ? people[0]?.id : undefined
    if (!other || other === contactId) continue
    const there = await deps.intercom.locateContact(other)
    if (there.kind === 'found') return there.contact.id
  }
  return null
}

/**
 * A linked contact Intercom no longer has under its id. When it was merged into another (the lead
 * who texted signed up, or a teammate merged them in Intercom), our links, SMS conversation and texts
 * move to the survivor, recorded as `merged` (Intercom did it for the team: no visitor can merge), the
 * survivor is asked to carry the bridge's mark, the conversation tells the team, and the survivor's
 * id is returned. Null when there is no survivor. `said`: the survivor a 410 already named.
 */
export async function followMerge(deps: BridgeDeps, contactId: string, said?: string): Promise<string | null> {
  const into = said ?? (await survivorOf(deps, contactId))
  if (!into || into === contactId) return null
  const conversation = await findSmsConversation(deps.store.db, contactId)
  const phones = await deps.store.transaction(async (trx) => {
    const moved = await moveLinks(trx, contactId, into, { source: 'merged', now: deps.clock.now() })
    if (conversation && moved.length > 0) {
      const html = `<p><b>Intercom merged this conversation's contact into ${escapeHtml(into)}.</b> Texts from this number now thread to them.</p>`
      await runIn(
        trx,
        enqueueTask(
          noteTask,
          { conversationId: conversation.intercom_conversation_id, html },
          { key: noteTask.keys.mergeNote(contactId, into) },
          deps.clock.now(),
        ),
      )
    }
    return moved
  })
  deps.log.info({ from: contactId, into, numbers: phones.length }, 'followed a contact merged in Intercom to the surviving contact')
  return into
}

/**
 * After `err` from a call about a linked contact: when Intercom said the contact was merged (410) or
 * is not there (404), follows the merge; the survivor's id, or null (the error stands).
 */
export async function followedMerge(deps: BridgeDeps, contactId: string, err: unknown): Promise<string | null> {
  if (!(err instanceof UpstreamError && err.api === 'intercom' && err.contactMissing)) return null
  return followMerge(deps, contactId, err.details.mergedInto)
}

/** An Intercom call about a linked contact, made again on the survivor when the contact was merged. */
export async function onLinkedContact<T>(deps: BridgeDeps, contactId: string, act: (id: string) => Promise<T>): Promise<T> {
  try {
    return await act(contactId)
  } catch (err) {
    const into = await followedMerge(deps, contactId, err)
    if (!into) throw err
    return act(into)
  }
}

/** Job: merges the lead into the user in Intercom, then moves our records of the lead to the user. */
export async function mergeContact(deps: BridgeDeps, payload: z.output<typeof mergePayload>): Promise<void> {
  // A retry after the merge went through finds the lead gone (404, or 410 on 2.16): nothing left to do in Intercom.
  if (await deps.intercom.findContact(payload.from)) await deps.intercom.mergeContacts(payload.from, payload.into)
  await deps.store.transaction(async (trx) => {
    await moveLinks(trx, payload.from, payload.into, { source: 'teammate', now: deps.clock.now() })
    if (payload.conversationId) {
      const who = payload.adminName ? escapeHtml(payload.adminName) : 'A teammate'
      const html = `<p><b>${who} merged the bridge's lead into user ${escapeHtml(payload.into)}.</b> Texts from this number now thread to the user.</p>`
      await runIn(
        trx,
        enqueueTask(
          noteTask,
          { conversationId: payload.conversationId, html },
          { key: noteTask.keys.mergeNote(payload.from, payload.into) },
          deps.clock.now(),
        ),
      )
    }
  })
}
