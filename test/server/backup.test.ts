import t from 'tap'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { OUR_NUMBER, standInEnv } from '../../sandbox/env.js'
import { openStore } from '../../shared/db/database.js'
import { tempDir } from '../support/db.js'
import { runCli, startServiceProcess } from '../support/process.js'
import { textsInIntercom, wiredStandIns } from '../support/traffic.js'
import { until } from '../support/wait.js'

async function inboundBodies(file: string): Promise<string[]> {
  const store = await openStore({ url: `file:${file}` })
  try {
    return (await store.db.selectFrom('messages').select('body').where('direction', '=', 'inbound').orderBy('id').execute()).map(
      (m) => m.body,
    )
  } finally {
    await store.close()
  }
}

t.test('backup while the service runs, then restore: the service comes back with what the backup held', async (t) => {
  const { twilio, intercom } = await wiredStandIns(t)
  const cwd = tempDir(t)
  const dbFile = join(cwd, 'data', 'bridge.db')
  const env = standInEnv(twilio, intercom, dbFile)
  const backup = join(cwd, 'backups', 'monday.db')
  const text = (body: string) => twilio.receiveText({ from: '+14155559876', to: OUR_NUMBER, body, via: service.url })

  let service = await startServiceProcess(t, 'node', env, cwd)
  await text('before the backup')
  await until(() => textsInIntercom(intercom).length === 1, 'the first text in Intercom')
  const made = await runCli(['backup', backup], env, cwd)
  t.equal(made.code, 0, 'backup succeeds while the service runs', { stderr: made.stderr })
  t.match(made.stdout, /^Backed up .*bridge\.db to .*monday\.db \(\d+ KB\), consistent as of \d{4}-/)
  const again = await runCli(['backup', backup], env, cwd)
  t.equal(again.code, 1)
  t.match(again.stderr, /already exists; name a new file/, 'a backup never overwrites one')
  await text('after the backup')
  await until(() => textsInIntercom(intercom).length === 2, 'the second text in Intercom')
  t.equal(await service.stop(), 0)

  const junk = join(cwd, 'junk.db')
  writeFileSync(junk, 'not a database at all, just some text that is long enough to look like a header'.repeat(100))
  const refused = await runCli(['restore', junk], env, cwd)
  t.equal(refused.code, 1)
  t.match(refused.stderr, /junk\.db is not a database file/)
  t.notOk(existsSync(`${dbFile}.restore`), 'a bad file is not staged')
  const staged = await runCli(['restore', backup], env, cwd)
  t.equal(staged.code, 0, 'restore stages the backup', { stderr: staged.stderr })
  t.match(staged.stdout, /monday\.db is a whole bridge database; staged as .*bridge\.db\.restore/)
  t.match(staged.stdout, /Restart the service/)
  t.same(await inboundBodies(dbFile), ['before the backup', 'after the backup'], 'nothing changes until the service starts')

  t.same(await inboundBodies(`${dbFile}.restore`), ['before the backup'], 'what is staged is what the backup held')

  service = await startServiceProcess(t, 'node', env, cwd)
  t.match(service.output(), /"msg":"restored the database from the staged backup/)
  t.equal((await fetch(`${service.url}/readyz`)).status, 200)
  // The text that came after the backup is still in Twilio's log: the start's catch-up takes it back.
  await until(
    () => /"count":1,"msg":"ingested inbound texts whose webhooks never arrived"/.test(service.output()),
    'the catch-up to take back the later text',
  )
  t.equal(await service.stop(), 0)
  t.same(await inboundBodies(dbFile), ['before the backup', 'after the backup'], 'the backup, then what Twilio still had')
  const kept = readdirSync(join(cwd, 'data')).filter((f) => /^bridge\.db\.before-restore-[\dT-]+Z$/.test(f))
  t.equal(kept.length, 1, 'the database it replaced is kept')
  t.same(await inboundBodies(join(cwd, 'data', kept[0]!)), ['before the backup', 'after the backup'], 'whole')
  t.notOk(existsSync(`${dbFile}.restore`), 'the staged copy was used up')
})

t.test('backup and restore refuse a remote database and say what to use instead', async (t) => {
  const cwd = tempDir(t)
  const env = {
    ...standInEnv(
      { accountSid: `AC${'1'.repeat(32)}`, authToken: 'x', url: 'http://127.0.0.1:9' } as never,
      { token: 'x', clientSecret: 'y', url: 'http://127.0.0.1:9' } as never,
      'x.db',
    ),
    DATABASE_URL: 'libsql://db.example.turso.io',
    DATABASE_AUTH_TOKEN: 'tok',
  }
  const restore = await runCli(['restore', 'x.db'], env, cwd)
  t.equal(restore.code, 1)
  t.match(restore.stderr, /not an embedded file: restore a Turso database with Turso's own tools/)
  const usage = await runCli(['backup'], env, cwd)
  t.equal(usage.code, 2)
  t.match(usage.stderr, /Usage: sms-bridge backup <file>/)
})
