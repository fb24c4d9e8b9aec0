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

export const silentLog = pino({ level: 'silent' })
