import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { migrate, openStore, type Store } from '../../shared/db/database.js'

export interface Teardown {
  teardown(fn: () => unknown): void
}

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t: Teardown, prefix = 'sms-bridge-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A migrated embedded database in a temporary file, closed and removed when the test ends. */
export async function tempStore(t: Teardown): Promise<Store & { path: string }> {
  const path = join(tempDir(t), 'test.db')
  const store = await openStore({ url: `file:${path}` })
  await migrate(store)
  t.teardown(() => store.close())
  return Object.assign(store, { path })
}

/** A migrated store on the loopback libSQL server stand-in (a remote database, as Turso is), with the server. */
export async function remoteStore(t: Teardown) {
  const { startLibsqlServerStandIn } = await import('../../sandbox/libsql-server.js')
  const server = await startLibsqlServerStandIn({ path: join(tempDir(t), 'server.db') })
  t.teardown(() => server.close())
  const store = await openStore({ url: server.url, authToken: server.authToken })
  t.teardown(() => store.close())
  await migrate(store)
  return { store, server }
}

export const silentLog = pino({ level: 'silent' })
