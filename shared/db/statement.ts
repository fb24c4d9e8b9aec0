import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type QueryResult,
  type Transaction,
} from 'kysely'
import type { Database } from './schema.js'

/**
 * A write (or a read that goes with writes) compiled in advance, its row type kept (Kysely's
 * "splitting query building and execution" recipe): what every repository write returns and what
 * `Store.run` takes. Its arguments never depend on another statement's result in code (a later one
 * may read what an earlier one wrote, in SQL), so a batch of them is one request to a remote database.
 */
export interface Statement<R = unknown> extends CompiledQuery<R> {
  /** Running it may make a job ready to run: the store wakes the worker once it commits. */
  readonly queuesWork?: boolean
  /** Type only, never set: keeps R on a statement the way Kysely's CompiledQuery<R> cannot be inferred back from. */
  readonly '~rows'?: R
}

/** The row type of a statement, or of a query builder's `compile()`. */
export type RowOf<S> =
  S extends CompiledQuery<infer R> ? (unknown extends R ? (S extends { readonly '~rows'?: infer P } ? P : R) : R) : never

/** What `Store.run` answers for `statements`: each one's result, typed, in order. */
export type Results<S extends readonly Statement[]> = { -readonly [K in keyof S]: QueryResult<RowOf<S[K]>> }

/**
 * Builds and compiles queries, never runs them (Kysely's "DummyDriver"): what statements are
 * compiled with. Every store, the embedded file and Turso alike, speaks SQLite.
 */
export const compiler = new Kysely<Database>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
})

/** Says that running `statement` may make a job ready (the queue's own statements say so). */
export function queuesWork<R>(statement: CompiledQuery<R>): Statement<R> {
  // A copy: Kysely freezes what it compiles.
  return { ...statement, queuesWork: true }
}

/** Transactions that queued a job (or made one due) and have not yet committed. */
const readyIn = new WeakSet<Transaction<Database>>()

/**
 * Runs statements inside a transaction (`Store.transaction`), in order: where a read decides a write.
 * When one of them queues work, the store wakes the worker once the transaction commits.
 */
export async function runIn<S extends readonly Statement[]>(trx: Transaction<Database>, ...statements: S): Promise<Results<S>> {
  const results: QueryResult<unknown>[] = []
  for (const statement of statements) {
    results.push(await trx.executeQuery(statement))
    if (statement.queuesWork) readyIn.add(trx)
  }
  return results as Results<S>
}

/** Whether `trx` queued work; forgets it (the store asks once, after the commit). */
export function takeQueuedWork(trx: Transaction<Database>): boolean {
  return readyIn.delete(trx)
}
