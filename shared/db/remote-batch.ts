import type { Client } from '@libsql/client'
import type { QueryResult } from 'kysely'
import type { Statement } from './statement.js'

/**
 * The statements of a group commit on a remote database, each write's own list: BEGIN, every
 * statement and COMMIT in one request (libSQL's batch, a non-interactive transaction), so a group
 * commit is one round trip instead of one per statement. Answers each write's results, in order, or
 * undefined when the batch rolled back (the lane then runs each write alone).
 */
export async function sendBatch(remote: Client, writes: (readonly Statement[])[]): Promise<QueryResult<unknown>[][] | undefined> {
  const statements = writes.flat().map((q) => ({ sql: q.sql, args: q.parameters as never[] }))
  let results
  try {
    results = await remote.batch(statements, 'write')
  } catch {
    return undefined
  }
  let at = 0
  return writes.map((write) =>
    write.map(() => {
      const r = results[at++]!
      return { rows: r.rows, numAffectedRows: BigInt(r.rowsAffected) }
    }),
  )
}
