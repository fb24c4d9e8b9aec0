import { noteUnhandledTopic } from '../../shared/db/cache.js'
import { VERSION } from '../../shared/version.js'
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { openStore } from '../../shared/db/database.js'
import { tempDir } from '../support/db.js'
import { startIntercomStandIn } from '../../sandbox/intercom/index.js'
import { startTwilioStandIn } from '../../sandbox/twilio/index.js'
import { runCli } from '../support/process.js'

const NUMBER = '+14155550100'
const SERVICE = `MG${'b'.repeat(32)}`

async function standIns(t: Test) {
  const twilio = await startTwilioStandIn()
  const intercom = await startIntercomStandIn()
  t.teardown(() => twilio.close())
  t.teardown(() => intercom.close())
  twilio.addPhoneNumber(NUMBER)
  const env = {
    PUBLIC_URL: 'https://sms.example.com',
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_PHONE_NUMBER: NUMBER,
    TWILIO_MESSAGING_SERVICE_SID: SERVICE,
    TWILIO_API_BASE_URL: twilio.url,
    INTERCOM_ACCESS_TOKEN: intercom.token,
    INTERCOM_CLIENT_SECRET: intercom.clientSecret,
    INTERCOM_API_BASE_URL: intercom.url,
  }
  return { twilio, intercom, env }
}

const writes = (requests: Array<{ method: string }>) => requests.filter((r) => r.method !== 'GET').length

t.test('setup --dry-run checks everything and changes nothing', async (t) => {
  const { twilio, intercom, env } = await standIns(t)
  const res = await runCli(['setup', '--dry-run'], env, tempDir(t))
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /ok {3}Intercom: the token works/)
  t.match(res.stdout, 'Intercom: would create the "sms" tag.')
  t.match(res.stdout, 'Intercom: would create the contact attribute sms_opted_out (boolean).')
  t.match(res.stdout, `Twilio: would point ${NUMBER}'s incoming texts at https://sms.example.com/twilio/sms.`)
  t.match(res.stdout, 'Dry run: nothing was changed.')
  t.equal(writes(intercom.requests) + writes(twilio.requests), 0, 'no request that changes anything')
})

t.test('setup creates what is missing, points Twilio at the bridge, and a second run changes nothing', async (t) => {
  const { twilio, intercom, env } = await standIns(t)
  const first = await runCli(['setup'], env, tempDir(t))
  t.equal(first.code, 0, 'setup succeeds', { output: first.stdout + first.stderr })
  t.same(
    intercom.tags.map((x) => x.name),
    ['sms'],
  )
  t.same(
    intercom.dataAttributes.map((a) => `${a.name}:${a.data_type}`),
    ['sms_opted_out:boolean', 'sms_bridge_consent:boolean', 'last_sms_sid:string', 'last_sms_status:string'],
  )
  t.match(twilio.phoneNumbers[0], { sms_url: 'https://sms.example.com/twilio/sms', sms_method: 'POST' })
  t.match(twilio.services[SERVICE], { inbound_request_url: 'https://sms.example.com/twilio/sms', use_inbound_webhook_on_number: false })
  t.match(first.stdout, 'Endpoint URL: https://sms.example.com/intercom/webhooks')
  t.match(
    first.stdout,
    'conversation.admin.replied, conversation.operator.replied, conversation.admin.closed, conversation.admin.opened, contact.user.created, contact.lead.created',
  )
  t.match(first.stdout, 'Initialize URL: https://sms.example.com/canvas/inbox/initialize')
  t.match(first.stdout, 'POST https://sms.example.com/intercom/series')

  const before = writes(intercom.requests) + writes(twilio.requests)
  const second = await runCli(['setup'], env, tempDir(t))
  t.equal(second.code, 0)
  t.match(second.stdout, 'Nothing to change.')
  t.equal(writes(intercom.requests) + writes(twilio.requests), before, 'the second run wrote nothing')
})

t.test('setup: a custom sms_consent from an earlier version is named, not recreated, and still honoured', async (t) => {
  const { intercom, env } = await standIns(t)
  intercom.dataAttributes.push({ name: 'sms_consent', model: 'contact', data_type: 'boolean' })
  const res = await runCli(['setup'], env, tempDir(t))
  t.equal(res.code, 0, 'setup succeeds', { output: res.stdout + res.stderr })
  t.match(res.stdout, /custom contact attribute sms_consent was made by an earlier version .* now writes sms_bridge_consent/)
  t.same(intercom.dataAttributes.filter((a) => a.name === 'sms_consent').length, 1)
})

t.test('setup explains bad credentials in plain words', async (t) => {
  const { env } = await standIns(t)
  const res = await runCli(['setup', '--dry-run'], { ...env, INTERCOM_ACCESS_TOKEN: 'wrong', TWILIO_AUTH_TOKEN: 'wrong' }, tempDir(t))
  t.equal(res.code, 1)
  t.match(res.stdout, /FAIL Intercom rejected INTERCOM_ACCESS_TOKEN \(401\)/)
  t.match(res.stdout, /FAIL Twilio rejected TWILIO_ACCOUNT_SID \/ TWILIO_AUTH_TOKEN \(401\)/)
  t.notMatch(res.stdout, 'wrong', 'no secret echoed')
  t.notMatch(res.stdout, 'Nothing to change.', 'not a clean bill when nothing could be checked')
  t.match(res.stdout, 'Dry run: Some checks failed, so not everything could be checked; nothing was changed.')
})

t.test('doctor reports the database, both APIs, the queue and recent webhooks', async (t) => {
  const { env } = await standIns(t)
  const cwd = tempDir(t)
  const empty = await runCli(['doctor'], env, cwd)
  t.equal(empty.code, 1, 'not healthy before any webhook')
  t.match(empty.stdout, /FAIL Database: migrations not applied: 2026-11-25T00-initial/)

  t.equal((await runCli(['migrate'], env, cwd)).code, 0)
  const store = await openStore({ url: `file:${join(cwd, 'data', 'bridge.db')}` })
  await store.transaction(async (trx) => {
    const at = Date.now() - 60_000
    await trx
      .insertInto('messages')
      .values({
        direction: 'inbound',
        twilio_sid: `SM${'1'.repeat(32)}`,
        phone: '+14155550123',
        twilio_number: NUMBER,
        body: 'hi',
        media: '[]',
        status: 'received',
        created_at: at,
        updated_at: at,
      })
      .execute()
    await trx
      .insertInto('webhook_receipts')
      .values({ source: 'intercom', key: 'n1', received_at: Date.now() - 3 * 3_600_000 })
      .execute()
    await trx
      .insertInto('jobs')
      .values({
        task: 'outbound.reply',
        payload: '{}',
        state: 'dead',
        attempts: 20,
        max_attempts: 20,
        run_at: 0,
        created_at: 0,
        updated_at: 0,
      })
      .execute()
    await noteUnhandledTopic(trx, 'conversation.user.replied', Date.now() - 120_000)
    await noteUnhandledTopic(trx, 'conversation.user.replied', Date.now() - 90_000)
  })
  await store.close()
  const res = await runCli(['doctor'], env, cwd)
  t.match(res.stdout, `ok   Version: intercom-sms-bridge ${VERSION}.`)
  t.match(res.stdout, `ok   Database: reachable (embedded file), migrations applied (last migrated by ${VERSION}).`)
  t.match(res.stdout, /ok {3}Intercom: reachable at 127\.0\.0\.1:\d+, token accepted/)
  t.match(res.stdout, /ok {3}Twilio: reachable at 127\.0\.0\.1:\d+, credentials accepted\./)
  t.match(res.stdout, /ok {3}Signatures: set ADMIN_TOKEN to see here the requests the running service refused/)
  t.match(
    res.stdout,
    /FAIL Queue: 1 dead job\(s\) \(outbound\.reply 1\): texts or replies that did not go through, refused for good or out of attempts \(about 1\.3 h of retries\)\. See them with sms-bridge jobs list; once the cause is fixed, run them again with sms-bridge jobs retry --all-dead \(one task: --all-dead --task outbound\.reply\)\./,
  )
  t.match(res.stdout, /ok {3}Twilio inbound texts: last received (6\d|7\d) s ago\./)
  t.match(res.stdout, /ok {3}Intercom webhooks: last received 3 h ago\./)
  t.match(
    res.stdout,
    /FAIL Intercom webhooks: the app sends topics the bridge ignores; untick them .*: conversation\.user\.replied \(2, last (8\d|9\d|1\d\d) s ago\)\./,
  )
  t.equal(res.code, 1, 'a dead job is a finding')
})

t.test('doctor on a correct install that has had no traffic yet: warnings, exit 0', async (t) => {
  const { env } = await standIns(t)
  const cwd = tempDir(t)
  t.equal((await runCli(['migrate'], env, cwd)).code, 0)
  const res = await runCli(['doctor'], env, cwd)
  t.equal(res.code, 0, 'healthy', { output: res.stdout + res.stderr })
  t.notMatch(res.stdout, /^FAIL/m, 'no FAIL line')
  t.match(
    res.stdout,
    /^WARN Twilio inbound texts: none received yet\. Normal before the first text; if texts were sent, check the webhook configuration/m,
  )
  t.match(res.stdout, /^WARN Intercom webhooks: none received yet\./m)
})

t.test('a data folder the process cannot write is named as such', async (t) => {
  const { env } = await standIns(t)
  const cwd = tempDir(t)
  // Tests run as root, for whom permission bits are no obstacle: a path through a file is (ENOTDIR).
  writeFileSync(join(cwd, 'plain-file'), '')
  for (const command of ['doctor', 'migrate']) {
    const res = await runCli([command], { ...env, DATABASE_URL: `file:${join(cwd, 'plain-file', 'data', 'bridge.db')}` }, cwd)
    t.equal(res.code, 1, command)
    t.match(
      res.stderr,
      `sms-bridge ${command} failed: The data folder ${join(cwd, 'plain-file', 'data')} cannot be written by this process (ENOTDIR: part of that path is a file, not a folder). The database and its journal files live in that folder`,
    )
    t.notMatch(res.stderr, /ConnectionFailed|: 14\b|\n\s+at /, 'no libSQL code, no stack trace')
  }
})

t.test('doctor names the host it could not reach and why', async (t) => {
  const { env } = await standIns(t)
  // A port that was just free: nothing listens on it.
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise((resolve) => closed.close(resolve))
  const cwd = tempDir(t)
  const offline = { ...env, INTERCOM_API_BASE_URL: `http://127.0.0.1:${port}`, TWILIO_API_BASE_URL: `http://127.0.0.1:${port}` }
  t.equal((await runCli(['migrate'], offline, cwd)).code, 0)
  const res = await runCli(['doctor'], offline, cwd)
  t.equal(res.code, 1)
  t.match(res.stdout, new RegExp(`FAIL Intercom: could not reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED: nothing listens there\\)\\.`))
  t.match(res.stdout, new RegExp(`FAIL Twilio: could not reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED: nothing listens there\\)\\.`))
})
