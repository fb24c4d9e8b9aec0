import { z } from 'zod'
import { getConsent } from '../../shared/db/consent.js'
import { findPhoneContact } from '../../shared/db/contacts.js'
import type { Tx } from '../../shared/db/database.js'
import { UpstreamError } from '../../shared/errors.js'
import { runIn } from '../../shared/db/statement.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import { CONTACT_ATTRIBUTES } from './contact-attributes.js'
import type { BridgeDeps } from './deps.js'
import { queues } from './keys.js'
import { onLinkedContact } from './links.js'

// How a number's opt-out shows in Intercom: our `sms_opted_out` attribute, and the workspace's SMS
// subscription type when it has one (an opt-out type: attached as unsubscribed; an opt-in type:
// detached). A keyword's job shows it beside its note; Twilio's opt-out (21610) queues its own job.

/**
 * Shows the opt-out (or START's reversal) on the contact, following a merge. Safe to repeat: the
 * attribute is set and the subscription attached or detached to the same end each time.
 */
export async function showConsentOnContact(deps: BridgeDeps, contactId: string, optedOut: boolean): Promise<void> {
  await deps.intercom.ensureContactAttribute(CONTACT_ATTRIBUTES.optedOut)
  await onLinkedContact(deps, contactId, async (id) => {
    await deps.intercom.updateContact(id, { customAttributes: { [CONTACT_ATTRIBUTES.optedOut.name]: optedOut } })
    await showOnSubscription(deps, id, optedOut)
  })
}

/**
 * The SMS subscription type is shown when Intercom lets us: a refusal (a token without the
 * permission, say) is logged and does not hold back the attribute and the note. A missing contact
 * is thrown on, so a merge is followed.
 */
async function showOnSubscription(deps: BridgeDeps, contactId: string, optedOut: boolean): Promise<void> {
  try {
    await deps.intercom.setSmsSubscription(contactId, optedOut)
  } catch (err) {
    if (!(err instanceof UpstreamError && err.outcome === 'give_up') || err.contactMissing) throw err
    deps.log.warn({ err: err.message }, 'the consent change could not be shown on the SMS subscription type')
  }
}

const optOutPayload = z.object({ phone: z.string().min(1), contactId: z.string().min(1) })

/** Showing an opt-out Twilio reported (21610) on the number's contact, once per change. */
export const showOptOutTask = defineTask('consent.show_opt_out', optOutPayload, {
  lane: 'inbound',
  run: showOptOut,
  keys: { show: (phone: string, at: number) => `optout:${phone}:${at}` },
})

/** Queues showing an opt-out on the contact the number is linked to (none linked: nothing to show). */
export async function queueShowOptOut(trx: Tx, phone: string, now: number): Promise<void> {
  const link = await findPhoneContact(trx, phone)
  if (!link) return
  const payload = { phone, contactId: link.intercom_contact_id }
  await runIn(trx, enqueueTask(showOptOutTask, payload, { key: showOptOutTask.keys.show(phone, now), queueKey: queues.phone(phone) }, now))
}

/** Job: shows the opt-out, unless the number opted back in since (START's own job shows that). */
export async function showOptOut(deps: BridgeDeps, payload: z.output<typeof optOutPayload>): Promise<void> {
  if ((await getConsent(deps.store.db, payload.phone))?.state !== 'opted_out') return
  await showConsentOnContact(deps, payload.contactId, true)
}
