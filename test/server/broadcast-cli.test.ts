import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildTestApp, drain } from '../helper.js'
import { tempDir } from '../support/db.js'
import { progressLine, runBroadcastCommand } from '../../server/ops/broadcast.js'

t.test('sms-bridge broadcast: create from a file, preview, confirm, report; bad arguments change nothing', async (t) => {
  const dir = tempDir(t)
  const ctx = await buildTestApp(t, {
    env: {
      DATABASE_URL: `file:${join(dir, 'bridge.db')}`,
      SMS_TEMPLATES: JSON.stringify({ promo: 'Hi {{first_name|there}}, see you Friday.' }),
    },
  })
  const a = ctx.intercom.addContact({ role: 'user', external_id: 'crm-a', name: 'Ana', phone: '+14155550601' })
  const b = ctx.intercom.addContact({ role: 'user', external_id: 'crm-b', phone: '+14155550602' })
  const file = join(dir, 'list.csv')
  writeFileSync(file, `# our list\n${a.id},Ana\n\n"${b.id}",Bo\n`)
  const run = async (...args: string[]) => {
    const lines: string[] = []
    const code = await runBroadcastCommand(args, ctx.config, (l) => lines.push(l))
    return { code, out: lines.join('\n') }
  }

  t.equal((await run('create', '--segment', 'x', '--tag', 'y', '--template', 'promo')).code, 2)
  t.equal((await run('create', '--file', file, '--template', 'nope')).code, 2)
  t.equal((await ctx.app.store.db.selectFrom('broadcasts').selectAll().execute()).length, 0, 'nothing written')

  t.match(await run('create', '--file', file, '--template', 'promo'), { code: 0, out: /Broadcast 1 created/ })
  await drain(ctx.app)
  const preview = await run('preview', '1')
  t.match(preview.out, /2 will receive it; 0 excluded/)
  t.match(preview.out, /to \+\*+0601: Hi Ana, see you Friday\./, 'the first rendered texts, each number masked')
  t.match(preview.out, /Nothing is sent until: sms-bridge broadcast confirm 1/)
  t.equal(ctx.twilio.messages.length, 0)
  t.match(await run('confirm', '1'), { code: 0, out: 'Broadcast 1 confirmed' })
  await drain(ctx.app)
  t.equal(ctx.twilio.messages.filter((m) => m.direction === 'outbound-api').length, 2)
  t.match((await run('report', '1')).out, /2 sent, 0 delivered, 0 failed, 0 skipped, 0 still to go/)
  t.match(await run('pause', '1'), { code: 1, out: 'Broadcast 1 is done: it cannot be paused now.' })
})

t.test('the progress line', async (t) => {
  const counts = { listed: 0, excluded: {}, pending: 1, released: 3, sent: 2, skipped: 1, sending: 0 }
  t.equal(progressLine(7, 'sending', counts, 8), 'broadcast 7 [######..] 75% 3/4 (2 sent, 1 skipped, 1 waiting) sending')
})
