import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startDemo, type Demo } from '../../sandbox/demo/server.js'
import { tempDir } from '../support/db.js'
import { until } from '../support/wait.js'

// `npm run demo -- --data DIR`: stop the demo, start it again on the same folder, and it carries on
// where it was, the bridge's database and the simulated services agreeing.

const CUSTOMER = '+14155550123'

async function api(demo: Demo, path: string, body?: unknown) {
  const res = await fetch(
    new URL(path, demo.url),
    body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
  )
  const json = (await res.json()) as any
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

const conversations = async (demo: Demo) =>
  (await api(demo, '/api/state')).conversations as Array<{
    id: string
    parts: Array<{ body: string; attachments: Array<{ url: string }> }>
  }>

t.test('with --data, a restarted demo carries on: same contact, same conversation, pictures still open', async (t) => {
  const dataDir = join(tempDir(t), 'demo')
  const first = await startDemo({ port: 0, dataDir, statusStepMs: 20, logLevel: 'silent' })
  t.teardown(() => first.close())
  await api(first, '/api/phone/text', { from: CUSTOMER, body: 'before the restart', picture: 'sample' })
  await until(
    async () => (await conversations(first))[0]?.parts.some((p) => p.attachments.length > 0) ?? false,
    'the text and its picture in Intercom',
  )
  const [before] = await conversations(first)
  await first.close()
  t.same(
    readdirSync(dataDir)
      .filter((f) => !f.includes('-'))
      .sort(),
    ['bridge.db', 'sandbox.json'],
    'the folder holds the database and the simulators',
  )

  const second = await startDemo({ port: 0, dataDir, statusStepMs: 20, logLevel: 'silent' })
  t.teardown(() => second.close())
  t.equal(second.bridgeUrl, first.bridgeUrl, 'the bridge listens where it did, so the links Intercom keeps still work')
  await api(second, '/api/phone/text', { from: CUSTOMER, body: 'after the restart' })
  await until(
    async () => (await conversations(second))[0]?.parts.some((p) => p.body === 'after the restart') ?? false,
    'the second text in Intercom',
  )
  const after = await conversations(second)
  t.equal(after.length, 1, 'one conversation')
  t.equal(after[0]!.id, before!.id, 'the same conversation as before the restart')
  t.equal(second.intercom.contacts.length, 1, 'one contact')

  const link = after[0]!.parts.find((p) => p.attachments.length)!.attachments[0]!.url
  const picture = await fetch(link)
  t.equal(picture.status, 200, 'the picture sent before the restart still opens')
  t.equal(picture.headers.get('content-type'), 'image/png')
})
