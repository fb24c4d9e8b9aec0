import { z } from 'zod'
import {
  broadcastSendKey,
  duePending,
  getBroadcast,
  holdRecipient,
  insertBroadcast,
  moveBroadcast,
  nextPendingAt,
  releaseRecipient,
} from '../../shared/db/broadcasts.js'
import { findSmsConversation } from '../../shared/db/contacts.js'
import type { Broadcast, BroadcastPurpose, BroadcastRecipient, BroadcastState } from '../../shared/db/schema.js'
import { runIn } from '../../shared/db/statement.js'
import { quietUntil } from '../../shared/quiet-hours.js'
import { defineTask, enqueueTask } from '../queue/task.js'
import type { TaskResult } from '../queue/worker.js'
import { requestAutomated } from './automated.js'
import { expandTask, listFileEntries, MAX_FILE_ENTRIES } from './broadcast-audience.js'
import type { BridgeDeps } from './deps.js'
import { takeSendSlot } from './pacing.js'
import { parseTemplateRef } from './templates.js'
import { chooseSender } from './senders.js'

export type Audience = { kind: 'segment' | 'tag'; id: string } | { kind: 'file'; entries: string[] }

export interface BroadcastRequest {
  audience: Audience
  /** A template reference (contract B): "macro:<id>" or a named template (SMS_TEMPLATES). */
  template: string
  purpose: BroadcastPurpose
  /** Not before (ms); null: as soon as it is confirmed. */
  sendAt: number | null
  /** Who asked, for the record: "cli" or "admin-api". */
  requestedBy: string
}

export type CreateOutcome =
  | { ok: true; id: number; listed: number | null }
  | { ok: false; reason: 'unknown_template' | 'empty_file' | 'file_too_long' | 'bad_audience' }

/** Texts a dispatch run releases before it lets other jobs run (it runs again at once). */
export const DISPATCH_BATCH = 25

/** Handing due recipients, one at a time at the sender's pace, to the once-only automated sends. */
export const dispatchTask = defineTask('broadcast.dispatch', z.object({ id: z.number().int().positive() }), {
  lane: 'bulk',
  run: dispatch,
  keys: { dispatch: (id: number) => `bdispatch:${id}` },
})

/**
 * Records a broadcast and queues the reading of its audience (nothing is sent: `confirmBroadcast`
 * does that, after a preview). A file's lines are listed at once; a segment or tag is read in pages.
 */
export type BroadcastDeps = Pick<BridgeDeps, 'store' | 'config' | 'clock'>

export async function createBroadcast(deps: BroadcastDeps, req: BroadcastRequest): Promise<CreateOutcome> {
  const ref = parseTemplateRef(req.template)
  if (ref.kind === 'named' && !deps.config.templates.has(ref.name)) return { ok: false, reason: 'unknown_template' }
  const { audience } = req
  if (audience.kind === 'file' && audience.entries.length === 0) return { ok: false, reason: 'empty_file' }
  if (audience.kind === 'file' && audience.entries.length > MAX_FILE_ENTRIES) return { ok: false, reason: 'file_too_long' }
  if (audience.kind !== 'file' && !/^[\w-]{1,64}$/.test(audience.id)) return { ok: false, reason: 'bad_audience' }
  const now = deps.clock.now()
  return deps.store.transaction(async (trx) => {
    const id = await insertBroadcast(
      trx,
      {
        audience_kind: audience.kind,
        audience_ref: audience.kind === 'file' ? null : audience.id,
        template: req.template.trim(),
        purpose: req.purpose,
        send_at: req.sendAt ?? now,
        created_by: req.requestedBy,
      },
      now,
    )
    const listed = audience.kind === 'file' ? await listFileEntries(trx, deps, { broadcastId: id, entries: audience.entries }, now) : null
    await runIn(trx, enqueueTask(expandTask, { id }, { key: expandTask.keys.expand(id) }, now))
    return { ok: true as const, id, listed }
  })
}

export type ControlOutcome =
  { ok: true; broadcast: Broadcast } | { ok: false; reason: 'not_found' } | { ok: false; reason: 'wrong_state'; state: BroadcastState }

const CONTROLS = {
  confirm: { from: ['ready'], to: 'sending' },
  pause: { from: ['sending'], to: 'paused' },
  resume: { from: ['paused'], to: 'sending' },
  cancel: { from: ['expanding', 'ready', 'sending', 'paused'], to: 'cancelled' },
} as const satisfies Record<string, { from: BroadcastState[]; to: BroadcastState }>
export type Control = keyof typeof CONTROLS

/**
 * Confirm (after the preview), pause, resume or cancel. Confirming and resuming queue the dispatch
 * (at the broadcast's time); pausing and cancelling stop it at its next text. A cancelled broadcast's
 * texts already handed over but not yet sent are skipped (sendAutomated looks).
 */
export async function controlBroadcast(deps: BroadcastDeps, id: number, control: Control): Promise<ControlOutcome> {
  const now = deps.clock.now()
  const b = await getBroadcast(deps.store.db, id)
  if (!b) return { ok: false, reason: 'not_found' }
  const change = CONTROLS[control]
  const starts = change.to === 'sending'
  const [moved] = await deps.store.run(
    moveBroadcast(id, { from: [...change.from], to: change.to }, now),
    ...(starts ? [enqueueTask(dispatchTask, { id }, { key: dispatchTask.keys.dispatch(id), runAt: Math.max(now, b.send_at) }, now)] : []),
  )
  const after = (await getBroadcast(deps.store.db, id))!
  // Not moved: the enqueue (keyed) may still have run; the dispatch it queued looks at the state first.
  if (moved.numAffectedRows !== 1n) return { ok: false, reason: 'wrong_state', state: after.state }
  return { ok: true, broadcast: after }
}

/**
 * Job: releases due recipients one by one while the broadcast is sending: a recipient in quiet hours
 * waits for their end (in their own time zone), each text takes a slot of the sender's pace first.
 * When every recipient is released the broadcast is done (the texts' outcomes come in after).
 */
export async function dispatch(deps: BridgeDeps, payload: { id: number }): Promise<void | TaskResult> {
  for (let i = 0; i < DISPATCH_BATCH; i++) {
    const b = await getBroadcast(deps.store.db, payload.id)
    if (!b || b.state !== 'sending') return
    const now = deps.clock.now()
    const [next] = await duePending(deps.store.db, b.id, now, 1)
    if (!next) {
      const at = await nextPendingAt(deps.store.db, b.id)
      if (at !== null) return { runAgainAt: at }
      await deps.store.run(moveBroadcast(b.id, { from: ['sending'], to: 'done' }, now))
      return
    }
    const wait = await release(deps, b, next)
    if (wait !== null) return { runAgainAt: wait }
  }
  return { runAgainAt: deps.clock.now() }
}

/** One recipient: held for their quiet hours, or a slot taken and the text handed over; the wait when the sender has no slot. */
async function release(deps: BridgeDeps, b: Broadcast, r: BroadcastRecipient): Promise<number | null> {
  const now = deps.clock.now()
  const quiet = deps.config.quietHours
  const until = quiet ? quietUntil(now, quiet.window, r.time_zone ?? quiet.timeZone) : null
  if (until) {
    await deps.store.run(holdRecipient(b.id, r.intercom_contact_id, until))
    return null
  }
  const conversation = await findSmsConversation(deps.store.db, r.intercom_contact_id)
  const sender = (await chooseSender(deps, { phone: r.phone ?? '', conversationNumber: conversation?.twilio_number ?? null })).recorded
  if (sender) {
    const slot = await takeSendSlot(deps, { sender, lane: 'bulk' }, now)
    if (!slot.go) return slot.at
  }
  await deps.store.transaction(async (trx) => {
    await requestAutomated(
      trx,
      {
        key: broadcastSendKey(b.id, r.intercom_contact_id),
        kind: 'broadcast',
        contactId: r.intercom_contact_id,
        phone: r.phone,
        body: r.body,
        requestedBy: `broadcast:${b.id}`,
      },
      now,
    )
    await runIn(trx, releaseRecipient(b.id, r.intercom_contact_id))
  })
  return null
}
