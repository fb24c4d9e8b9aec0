import type { Executor } from './database.js'
import type { RevocationRequest } from './schema.js'
import { compiler, type Statement } from './statement.js'

/** Records a likely request to stop texts; once per text (a retried delivery adds nothing). */
export function recordRevocationRequest(
  r: { phone: string; messageId: number; conversationId: string | null; phrase: string; honourBy: string },
  now: number,
): Statement {
  return compiler
    .insertInto('revocation_requests')
    .values({
      phone: r.phone,
      message_id: r.messageId,
      intercom_conversation_id: r.conversationId,
      phrase: r.phrase,
      asked_at: now,
      honour_by: r.honourBy,
      resolved_at: null,
      resolution: null,
    })
    .onConflict((oc) => oc.column('message_id').doNothing())
    .compile()
}

/** The number's oldest pending request (the one with the nearest deadline). */
export async function pendingRevocation(db: Executor, phone: string): Promise<RevocationRequest | undefined> {
  return db
    .selectFrom('revocation_requests')
    .selectAll()
    .where('phone', '=', phone)
    .where('resolved_at', 'is', null)
    .orderBy('asked_at')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst()
}

/** Every pending request of the number is settled: it opted out (`opted_out`), or a teammate dismissed them. */
export function resolveRevocations(phone: string, resolution: 'opted_out' | `dismissed:${string}`, now: number): Statement {
  return compiler
    .updateTable('revocation_requests')
    .set({ resolved_at: now, resolution })
    .where('phone', '=', phone)
    .where('resolved_at', 'is', null)
    .compile()
}
