import { z } from 'zod'
import { runIn } from '../../shared/db/statement.js'
import type { Executor, Tx } from '../../shared/db/database.js'
import {
  erasePersonRows,
  personRecords,
  resolvePerson,
  type ErasedRows,
  type PersonRecords,
  type PersonRef,
} from '../../shared/db/privacy.js'
import { RetryLaterError } from '../../shared/errors.js'
import { eraseRecipients } from '../../shared/db/broadcasts.js'
import { eraseScheduledTexts } from '../../shared/db/scheduled.js'
import type { BridgeDeps } from './deps.js'
import { defineTask, enqueueTask } from '../queue/task.js'

export type { PersonRef } from '../../shared/db/privacy.js'

/**
 * How long to wait before asking Twilio again to redact a text it refused: Twilio keeps a text
 * unredactable until it is final, and waits up to hours for a carrier's delivery receipt.
 */
export const REDACT_RETRY_MS = 3_600_000
/** Hourly tries for two days; then the job is dead, listed by `sms-bridge jobs list`, and `jobs retry` tries again. */
export const REDACT_MAX_ATTEMPTS = 48

/** Blanking one text's body at Twilio (an erasure), once per MessageSid. */
export const redactTask = defineTask('privacy.redact', z.object({ sid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/) }), {
  lane: 'automated',
  run: redactAtTwilio,
  keys: { redact: (sid: string) => `redact:${sid}` },
})

export type EraseOutcome =
  | { kind: 'nothing_held' }
  | ({ kind: 'erased'; phones: number; contacts: number } & Omit<ErasedRows, 'sids'> & { redactions: number; broadcastRecipients: number })

/**
 * Erases what the bridge holds about a person, in the caller's transaction, and queues the
 * redaction of each of their texts at Twilio (one job a MessageSid, retried until Twilio agrees).
 */
export async function erasePersonInTx(trx: Tx, ref: PersonRef, now: number): Promise<EraseOutcome> {
  const person = await resolvePerson(trx, ref)
  const rows = await erasePersonRows(trx, person, now)
  // A broadcast's recipient row: deleted, so a text not yet handed over is never sent (a sent one's
  // once-only record is automated_sends', stripped above like a Series step's).
  const broadcastRecipients = await eraseRecipients(
    trx,
    person.phones.length ? person.phones : [''],
    person.contactIds.length ? person.contactIds : [''],
  )
  // Texts scheduled to them (send later): their job finds no row and does nothing.
  const [scheduled] = await runIn(trx, eraseScheduledTexts(person.phones, person.contactIds))
  for (const sid of rows.sids) {
    await runIn(trx, enqueueTask(redactTask, { sid }, { key: redactTask.keys.redact(sid), maxAttempts: REDACT_MAX_ATTEMPTS }, now))
  }
  const { sids, ...counts } = rows
  const touched =
    counts.messages +
    counts.links +
    counts.conversations +
    counts.automated +
    counts.verifications +
    counts.jobs +
    counts.consentDeleted +
    broadcastRecipients +
    Number(scheduled.numAffectedRows ?? 0n)
  if (touched === 0 && !counts.optOutKept) return { kind: 'nothing_held' }
  return {
    kind: 'erased',
    phones: person.phones.length,
    contacts: person.contactIds.length,
    ...counts,
    redactions: sids.length,
    broadcastRecipients,
  }
}

/** `erasePersonInTx` in a transaction of its own (the CLI). */
export function erasePerson(deps: Pick<BridgeDeps, 'store'>, ref: PersonRef, now: number): Promise<EraseOutcome> {
  return deps.store.transaction((trx) => erasePersonInTx(trx, ref, now))
}

/** Everything the bridge holds about a person, for an access request. */
export async function exportPerson(
  db: Executor,
  ref: PersonRef,
): Promise<{ phones: string[]; contactIds: string[]; records: PersonRecords }> {
  const person = await resolvePerson(db, ref)
  return { ...person, records: await personRecords(db, person) }
}

/** Job: blanks one text's body in Twilio's log. Refused (not final yet): asked again in an hour. */
export async function redactAtTwilio(deps: Pick<BridgeDeps, 'twilio' | 'log'>, payload: { sid: string }): Promise<void> {
  const outcome = await deps.twilio.redact(payload.sid)
  if (outcome.ok) {
    if (outcome.gone) deps.log.info({ sid: payload.sid }, 'Twilio no longer has the text: nothing to redact')
    return
  }
  throw new RetryLaterError(
    REDACT_RETRY_MS,
    `Twilio refused to redact ${payload.sid} (${outcome.code ? `error ${outcome.code}: ` : ''}${outcome.message}); a text still on its way cannot be redacted until it is delivered or fails`,
  )
}
