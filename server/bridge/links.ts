import { createdLinksOf, findPhoneContact, moveContactRecords, othersOf, planSetLinkMarked, unmarkedLinks } from '../../shared/db/contacts.js'
import type { JobContext } from '../jobs/worker.js'
import { escapeHtml } from '../../shared/text.js'
import type { BridgeDeps } from './deps.js'
import { enqueueTask, type TaskPayload } from './jobs.js'
import { jobKeys, queues } from './keys.js'
import { MARK_ATTRIBUTE, MARK_DESCRIPTION, phoneMark } from './trust.js'

/**
 * The bridge's links between numbers and contacts, as Intercom sees them: the mark written on a
 * linked contact (so the link survives the loss of our database), and a teammate's merge of the
 * bridge's lead into a user.
 */

/**
 * Job: writes the bridge's mark for a link on the contact; nothing when the link has moved on since.
 * It runs once for every new customer, so it costs one read and one write (recorded with the job's
 * completion) beside its Intercom call.
 */
export async function markContact(deps: BridgeDeps, payload: TaskPayload<'contact.mark'>, ctx: JobContext): Promise<void> {
  const link = await findPhoneContact(deps.store.db, payload.phone)
  if (link?.intercom_contact_id !== payload.contactId) return
  await deps.intercom.ensureContactAttribute(MARK_ATTRIBUTE, 'string', MARK_DESCRIPTION)
  await deps.intercom.updateContact(payload.contactId, { customAttributes: { [MARK_ATTRIBUTE]: phoneMark(deps.config, payload.contactId, payload.phone) } }, 'mark the contact with its number')
  await ctx.complete({ queries: [planSetLinkMarked(deps.store.db, payload.phone, payload.contactId, deps.clock.now())] })
}

/** Links made before marks existed (or whose mark never got written) get one, a batch a day. */
export async function markUnmarkedLinks(deps: Pick<BridgeDeps, 'store'>, limit = 500): Promise<number> {
  const links = await unmarkedLinks(deps.store.db, limit)
  if (links.length === 0) return 0
  await deps.store.write(async (trx) => {
    for (const l of links) {
      await enqueueTask(trx, 'contact.mark', { contactId: l.intercom_contact_id, phone: l.phone }, { key: jobKeys.mark(l.phone, l.intercom_contact_id), queueKey: queues.contact(l.intercom_contact_id) })
    }
  })
  return links.length
}

/**
 * "Merge" in the SMS panel: the bridge's own lead for a number into a user who also has it (shown
 * only where a user's phone is not trusted by itself, MATCH_USERS_BY_PHONE=false). Queued, so it
 * runs once whatever is clicked twice.
 */
export async function mergeFromPanel(
  deps: BridgeDeps,
  ctx: { contact: { id: string }; conversationId: string | null; adminName: string | null },
  into: string,
): Promise<{ notice?: string; error?: string }> {
  const candidates = await mergeCandidates(deps, ctx.contact.id)
  const user = candidates.find((c) => c.id === into)
  if (!user) return { error: 'That contact cannot be merged with this one any more. Refresh to see where things stand.' }
  await deps.store.write((trx) =>
    enqueueTask(
      trx,
      'contact.merge',
      { from: ctx.contact.id, into, conversationId: ctx.conversationId, adminName: ctx.adminName },
      { key: jobKeys.merge(ctx.contact.id, into), queueKey: queues.contact(ctx.contact.id) },
    ),
  )
  return { notice: `Merging into ${user.name ?? 'the user'}: this conversation moves to them in a moment.` }
}

/** Users the bridge's own lead for a number may be merged into: those it found with the number. */
export async function mergeCandidates(deps: Pick<BridgeDeps, 'store'>, contactId: string): Promise<Array<{ id: string; name: string | null }>> {
  const others = (await createdLinksOf(deps.store.db, contactId)).flatMap(othersOf)
  return others.filter((o) => o.role === 'user').map((o) => ({ id: o.id, name: o.name }))
}

/** Job: merges the lead into the user in Intercom, then moves our records of the lead to the user. */
export async function mergeContact(deps: BridgeDeps, payload: TaskPayload<'contact.merge'>): Promise<void> {
  // A retry after the merge went through finds the lead gone: nothing left to do in Intercom.
  if (await deps.intercom.findContact(payload.from)) await deps.intercom.mergeContacts(payload.from, payload.into)
  await deps.store.write(async (trx) => {
    const phones = await moveContactRecords(trx, payload.from, payload.into)
    for (const phone of phones) {
      await enqueueTask(trx, 'contact.mark', { contactId: payload.into, phone }, { key: jobKeys.mark(phone, payload.into), queueKey: queues.contact(payload.into) })
    }
    if (payload.conversationId) {
      const who = payload.adminName ? escapeHtml(payload.adminName) : 'A teammate'
      const html = `<p><b>${who} merged the bridge's lead into user ${escapeHtml(payload.into)}.</b> Texts from this number now thread to the user.</p>`
      await enqueueTask(trx, 'conversation.note', { conversationId: payload.conversationId, html }, { key: jobKeys.mergeNote(payload.from, payload.into) })
    }
  })
}
