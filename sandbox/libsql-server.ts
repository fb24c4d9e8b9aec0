// A loopback stand-in for a remote libSQL server (Turso, sqld): the Hrana protocol over HTTP, version
// 2 with JSON bodies (`POST /v2/pipeline`), which @libsql/client speaks when a server offers nothing
// newer. It keeps one database file and a connection per stream, so transactions span requests as
// they do on Turso (a stream is named by the baton each answer hands back), checks the bearer
// token, and refuses what it does not understand with the error shapes the client reads.
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Database from 'libsql'

type Connection = InstanceType<typeof Database>

type HranaValue =
  | { type: 'null' }
  | { type: 'integer'; value: string }
  | { type: 'float'; value: number }
  | { type: 'text'; value: string }
  | { type: 'blob'; base64: string }

interface HranaStmt {
  sql?: string
  sql_id?: number
  args?: HranaValue[]
  named_args?: Array<{ name: string; value: HranaValue }>
  want_rows?: boolean
}

type BatchCond =
  | { type: 'ok' | 'error'; step: number }
  | { type: 'not'; cond: BatchCond }
  | { type: 'and' | 'or'; conds: BatchCond[] }
  | { type: 'is_autocommit' }

type StreamRequest =
  | { type: 'close' }
  | { type: 'execute'; stmt: HranaStmt }
  | { type: 'batch'; batch: { steps: Array<{ condition?: BatchCond; stmt: HranaStmt }> } }
  | { type: 'sequence'; sql?: string; sql_id?: number }
  | { type: 'store_sql'; sql_id: number; sql: string }
  | { type: 'close_sql'; sql_id: number }
  | { type: 'get_autocommit' }

interface Stream {
  connection: Connection
  sql: Map<number, string>
  /**
   * Statements by SQL, reused: one that failed busy stays "in progress" (and the connection refuses
   * to commit) until it runs again, which the retry does with this same statement.
   */
  prepared: Map<string, ReturnType<Connection['prepare']>>
  lastUsed: number
}

class HranaError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
  }
}

export interface LibsqlServerStandIn {
  /** The URL to give @libsql/client (DATABASE_URL). */
  url: string
  authToken: string
  /** HTTP requests answered so far (each one a round trip for the client). */
  readonly requests: number
  close(): Promise<void>
}

export async function startLibsqlServerStandIn(opts: {
  path: string
  authToken?: string
  busyTimeoutMs?: number
  streamExpiryMs?: number
  /** Waits this long before answering each request, as a database at that network distance does. */
  delayMs?: number
}): Promise<LibsqlServerStandIn> {
  let requests = 0
  const delayMs = opts.delayMs ?? 0
  const authToken = opts.authToken ?? `libsql-token-${randomBytes(8).toString('hex')}`
  const streams = new Map<string, Stream>()

  // No busy handler: it would sleep on this one thread while the stream holding the lock waits for
  // its next request. A busy statement is tried again a little later instead, as a server would.
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5_000
  const open = (): Connection => {
    const connection = new Database(opts.path, { timeout: 0 })
    connection.exec('PRAGMA journal_mode = WAL')
    return connection
  }

  const toJs = (value: HranaValue): unknown => {
    switch (value.type) {
      case 'null':
        return null
      case 'integer': {
        const n = BigInt(value.value)
        return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n
      }
      case 'float':
        return value.value
      case 'text':
        return value.value
      case 'blob':
        return Buffer.from(value.base64, 'base64')
      default:
        throw new HranaError(`unknown value type ${(value as { type: string }).type}`, 'PROTO_ERROR')
    }
  }
  const toHrana = (value: unknown): HranaValue => {
    if (value === null || value === undefined) return { type: 'null' }
    if (typeof value === 'bigint') return { type: 'integer', value: String(value) }
    if (typeof value === 'number') return { type: 'float', value }
    if (typeof value === 'string') return { type: 'text', value }
    if (value instanceof ArrayBuffer) return { type: 'blob', base64: Buffer.from(value).toString('base64') }
    if (ArrayBuffer.isView(value))
      return { type: 'blob', base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') }
    throw new HranaError(`cannot encode a ${typeof value}`, 'PROTO_ERROR')
  }

  const execute = (stream: Stream, stmt: HranaStmt) => {
    const sql = stmt.sql ?? (stmt.sql_id !== undefined ? stream.sql.get(stmt.sql_id) : undefined)
    if (sql === undefined) throw new HranaError('a statement needs sql or a stored sql_id', 'PROTO_ERROR')
    const named = stmt.named_args ?? []
    const args =
      named.length > 0 ? Object.fromEntries(named.map((a) => [a.name.replace(/^[:@$]/, ''), toJs(a.value)])) : (stmt.args ?? []).map(toJs)
    try {
      let statement = stream.prepared.get(sql)
      if (!statement) stream.prepared.set(sql, (statement = stream.connection.prepare(sql)))
      if (statement.reader) {
        statement.safeIntegers(true).raw(true)
        const cols = statement.columns().map((c: { name: string; type: string | null }) => ({ name: c.name, decltype: c.type ?? null }))
        const rows = (statement.all(args) as unknown[][]).map((row) => row.map(toHrana))
        const changes = /^\s*select\b/i.test(sql)
          ? 0
          : Number((stream.connection.prepare('select changes() as n').all([]) as Array<{ n: number }>)[0]!.n)
        return { cols, rows: stmt.want_rows === false ? [] : rows, affected_row_count: changes, last_insert_rowid: null }
      }
      const info = statement.run(args)
      return { cols: [], rows: [], affected_row_count: info.changes, last_insert_rowid: String(info.lastInsertRowid) }
    } catch (error) {
      const e = error as { message?: string; code?: string }
      throw new HranaError(String(e.message ?? error), e.code ?? 'SQLITE_ERROR')
    }
  }

  const executeWaiting = async (stream: Stream, stmt: HranaStmt) => {
    const started = Date.now()
    for (;;) {
      try {
        return execute(stream, stmt)
      } catch (error) {
        if (!(error instanceof HranaError && error.code.startsWith('SQLITE_BUSY')) || Date.now() - started > busyTimeoutMs) throw error
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
    }
  }

  const holds = (cond: BatchCond | undefined, outcomes: Array<'ok' | 'error' | undefined>, stream: Stream): boolean => {
    if (!cond) return true
    switch (cond.type) {
      case 'ok':
        return outcomes[cond.step] === 'ok'
      case 'error':
        return outcomes[cond.step] === 'error'
      case 'not':
        return !holds(cond.cond, outcomes, stream)
      case 'and':
        return cond.conds.every((c) => holds(c, outcomes, stream))
      case 'or':
        return cond.conds.some((c) => holds(c, outcomes, stream))
      case 'is_autocommit':
        return !stream.connection.inTransaction
      default:
        throw new HranaError(`unknown condition ${(cond as { type: string }).type}`, 'PROTO_ERROR')
    }
  }

  const handle = async (stream: Stream, request: StreamRequest): Promise<unknown> => {
    switch (request.type) {
      case 'execute':
        return { type: 'execute', result: await executeWaiting(stream, request.stmt) }
      case 'batch': {
        const outcomes: Array<'ok' | 'error' | undefined> = []
        const step_results: unknown[] = []
        const step_errors: unknown[] = []
        for (const [i, step] of request.batch.steps.entries()) {
          step_results.push(null)
          step_errors.push(null)
          if (!holds(step.condition, outcomes, stream)) continue
          try {
            step_results[i] = await executeWaiting(stream, step.stmt)
            outcomes[i] = 'ok'
          } catch (error) {
            const e = error as HranaError
            step_errors[i] = { message: e.message, code: e.code }
            outcomes[i] = 'error'
          }
        }
        return { type: 'batch', result: { step_results, step_errors } }
      }
      case 'sequence': {
        const sql = request.sql ?? (request.sql_id !== undefined ? stream.sql.get(request.sql_id) : undefined)
        if (sql === undefined) throw new HranaError('a sequence needs sql', 'PROTO_ERROR')
        try {
          stream.connection.exec(sql)
        } catch (error) {
          throw new HranaError(String((error as Error).message), 'SQLITE_ERROR')
        }
        return { type: 'sequence' }
      }
      case 'store_sql':
        stream.sql.set(request.sql_id, request.sql)
        return { type: 'store_sql' }
      case 'close_sql':
        stream.sql.delete(request.sql_id)
        return { type: 'close_sql' }
      case 'get_autocommit':
        return { type: 'get_autocommit', is_autocommit: !stream.connection.inTransaction }
      default:
        throw new HranaError(`unknown request type ${(request as { type: string }).type}`, 'PROTO_ERROR')
    }
  }

  // Ending a stream ends its connection; an open transaction rolls back, as on a server. Rolled
  // back first: the connection itself may linger until its kept statements are collected.
  const endStream = (stream: Stream) => {
    if (stream.connection.inTransaction) stream.connection.exec('ROLLBACK')
    stream.connection.close()
  }
  const expire = (baton: string) => {
    const stream = streams.get(baton)
    if (!stream) return
    streams.delete(baton)
    endStream(stream)
  }

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    const answer = async () => {
      requests++
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      if (req.headers.authorization !== `Bearer ${authToken}`) return send(res, 401, { message: 'Unauthorized: bad or missing token' })
      if (req.method !== 'POST' || req.url !== '/v2/pipeline')
        return send(res, 404, { message: `No such endpoint: ${req.method} ${req.url}` })
      let body: { baton?: string | null; requests?: StreamRequest[] }
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body
      } catch {
        return send(res, 400, { message: 'The body is not JSON' })
      }
      if (!Array.isArray(body.requests)) return send(res, 400, { message: 'requests must be an array' })
      let baton = body.baton ?? null
      let stream: Stream
      if (baton !== null) {
        const found = streams.get(baton)
        if (!found) return send(res, 400, { message: 'Unknown or expired baton' })
        streams.delete(baton)
        stream = found
      } else {
        stream = { connection: open(), sql: new Map(), prepared: new Map(), lastUsed: Date.now() }
      }
      const results: unknown[] = []
      let closed = false
      for (const request of body.requests) {
        if (request.type === 'close') {
          closed = true
          results.push({ type: 'ok', response: { type: 'close' } })
          continue
        }
        try {
          results.push({ type: 'ok', response: await handle(stream, request) })
        } catch (error) {
          const e = error as HranaError
          results.push({ type: 'error', error: { message: e.message, code: e.code ?? 'UNKNOWN' } })
        }
      }
      if (closed) {
        endStream(stream)
        baton = null
      } else {
        // Each answer names the stream anew; the old baton is spent.
        baton = randomBytes(12).toString('hex')
        stream.lastUsed = Date.now()
        streams.set(baton, stream)
      }
      send(res, 200, { baton, base_url: null, results })
    }
    req.on('end', () => void answer())
  })
  // A stream nobody uses for a while is closed, its transaction rolled back, as the server does (a
  // client that died holding a write transaction must not hold the database forever).
  const streamExpiryMs = opts.streamExpiryMs ?? 10_000
  const sweeper = setInterval(
    () => {
      for (const [baton, stream] of streams) if (Date.now() - stream.lastUsed > streamExpiryMs) expire(baton)
    },
    Math.min(1_000, streamExpiryMs),
  ).unref()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    authToken,
    get requests() {
      return requests
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweeper)
        for (const baton of [...streams.keys()]) expire(baton)
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
