import t from 'tap'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'kysely'
import { OUR_NUMBER, standInEnv } from '../../sandbox/env.js'
import { migrate, openStore } from '../../shared/db/database.js'
import { VERSION } from '../../shared/version.js'
import { tempDir } from '../support/db.js'
import { runCli, startServiceProcess } from '../support/process.js'
import { FUTURE_MIGRATION, newerRelease } from '../support/releases.js'
import { textsInIntercom, wiredStandIns } from '../support/traffic.js'
import { until } from '../support/wait.js'

/**
 * README "Rolling back": upgrade (which backs the database up first), find the new release wanting,
 * start the old build (refused, saying what to do), restore the pre-upgrade copy, start the old build.
 * The newer build is this code with one more migration and another version, run in this process:
 * its upgrade is the same `migrate` the service runs at start.
 */
t.test('rollback: the old build refuses the upgraded database by name; the pre-upgrade copy restored, it runs', async (t) => {
  const { twilio, intercom } = await wiredStandIns(t)
  const cwd = tempDir(t)
  const dbFile = join(cwd, 'data', 'bridge.db')
  const env = standInEnv(twilio, intercom, dbFile)

  const version = await runCli(['--version'], {}, cwd)
  t.equal(version.stdout, `intercom-sms-bridge ${VERSION}\n`, 'the bundle names the version package.json has')

  let service = await startServiceProcess(t, 'node', env, cwd)
  t.match(service.output(), `"version":"${VERSION}"`)
  t.match(service.output(), `"msg":"intercom-sms-bridge ${VERSION} starting"`)
  t.same(await (await fetch(`${service.url}/healthz`)).json(), { status: 'ok', version: VERSION })
  await twilio.receiveText({ from: '+14155559876', to: OUR_NUMBER, body: 'before the upgrade', via: service.url })
  await until(() => textsInIntercom(intercom).length === 1, 'the text in Intercom')
  t.equal(await service.stop(), 0)

  const upgraded = await openStore({ url: `file:${dbFile}` })
  const upgrade = await migrate(upgraded, { release: await newerRelease('0.3.0') })
  await upgraded.close()
  t.same(upgrade.applied, [FUTURE_MIGRATION])
  t.match(upgrade.backup, new RegExp(`^${join(cwd, 'data', 'backups')}/pre-migrate-${VERSION}-to-0\\.3\\.0-[\\dT-]+Z\\.db$`))

  // Before: "migration  failed: corrupted migrations: previously executed migration ... is missing".
  const refused = await startServiceProcess(t, 'node', env, cwd).then(
    () => t.fail('the old build must not start on the newer database'),
    (error: Error) => error.message,
  )
  t.match(refused, /exited with 1/)
  t.match(
    refused,
    `sms-bridge start failed: This database was migrated by intercom-sms-bridge 0.3.0 (migration ${FUTURE_MIGRATION}), newer than this version ${VERSION}. ` +
      `To roll back: restore the backup taken before the upgrade (sms-bridge restore ${upgrade.backup}), or run version 0.3.0.`,
  )
  t.notMatch(refused, /corrupted migrations/)

  const staged = await runCli(['restore', upgrade.backup!], env, cwd)
  t.equal(staged.code, 0, "the pre-upgrade copy is this version's own", { stderr: staged.stderr })
  service = await startServiceProcess(t, 'node', env, cwd)
  t.match(service.output(), /"msg":"restored the database from the staged backup/)
  t.equal((await fetch(`${service.url}/readyz`)).status, 200)
  await twilio.receiveText({ from: '+14155559876', to: OUR_NUMBER, body: 'after the rollback', via: service.url })
  await until(() => textsInIntercom(intercom).length === 2, 'the text after the rollback in Intercom')
  t.equal(await service.stop(), 0)

  const rolledBack = await openStore({ url: `file:${dbFile}` })
  t.teardown(() => rolledBack.close())
  const applied = (await sql<{ name: string }>`select name from kysely_migration`.execute(rolledBack.db)).rows.map((r) => r.name)
  t.notOk(applied.includes(FUTURE_MIGRATION), 'the newer migration is gone with the database it was in')
  t.ok(
    readdirSync(join(cwd, 'data')).some((f) => f.startsWith('bridge.db.before-restore-')),
    'the upgraded database is kept beside it',
  )
})
