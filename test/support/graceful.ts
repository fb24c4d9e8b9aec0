import { copyFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { OUR_NUMBER, standInEnv } from '../../sandbox/env.js'
import { openStore } from '../../shared/db/database.js'
import { tempDir } from './db.js'
import { startServiceProcess } from './process.js'
import { accepted, textsInIntercom, wiredStandIns } from './traffic.js'
import { until } from './wait.js'

/**
 * SIGTERM while a job is halfway through an Intercom call, on `runtime`: the stop must wait for the
 * job (the call is answered only after the signal), close the database (its file alone then holds
 * the finished job) and exit 0. Shared by the Node and the Deno test, so both paths are held to one bar.
 */
export async function stopWhileAJobRuns(t: Test, runtime: 'node' | 'deno', startTimeoutMs?: number): Promise<void> {
  const { twilio, intercom } = await wiredStandIns(t)
  const cwd = tempDir(t)
  const dbFile = join(cwd, 'bridge.db')
  const service = await startServiceProcess(t, runtime, standInEnv(twilio, intercom, dbFile), cwd, startTimeoutMs)
  let open!: () => void
  // The first contact lookup of the text's job is held until the service has been told to stop.
  intercom.failNext({ match: { path: /^\/contacts/ }, gate: new Promise<void>((resolve) => (open = resolve)) })
  const { delivery } = await twilio.receiveText({ from: '+14155559876', to: OUR_NUMBER, body: 'stopping soon?', via: service.url })
  t.ok(accepted(delivery), 'the text is acknowledged')
  await until(() => intercom.requests.some((r) => r.path.startsWith('/contacts')), 'the job to be waiting on Intercom')
  const exited = service.stop()
  await until(() => /"msg":"shutting down"/.test(service.output()), 'the service to start shutting down')
  t.notMatch(service.output(), /second SIG|exiting now/, 'one signal is one stop')
  open()
  t.equal(await exited, 0, 'exit code 0 after SIGTERM', { output: service.output() })
  t.same(textsInIntercom(intercom), ['stopping soon?'], 'the running job finished: the text is in Intercom')
  t.match(service.output(), /"msg":"stopped"/, 'a last line says it stopped')
  t.equal(statSync(`${dbFile}-wal`, { throwIfNoEntry: false })?.size ?? 0, 0, 'the database was closed: its log is empty')
  // The database file alone (as a copy of only bridge.db has it) knows the job is done.
  const copy = join(tempDir(t), 'copy.db')
  copyFileSync(dbFile, copy)
  const store = await openStore({ url: `file:${copy}` })
  t.teardown(() => store.close())
  const jobs = await store.db.selectFrom('jobs').select(['task', 'state']).where('task', '=', 'inbound.deliver').execute()
  t.same(jobs, [], 'the finished job is gone from the queue in the file alone')
  const messages = await store.db.selectFrom('messages').select(['direction', 'body']).execute()
  t.same(
    messages.map((m) => [m.direction, m.body]),
    [['inbound', 'stopping soon?']],
  )
}
