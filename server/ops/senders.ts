import type { Config } from '../config.js'

const USAGE = 'Usage: sms-bridge senders resume <sender>   (a number such as +14155550100, a short code or a Messaging Service SID)'

/**
 * `sms-bridge senders resume <sender>`: a sender that paused its automated and bulk texts (carrier
 * filtering or opt-outs spiked) sends them again; its held texts are woken.
 */
export async function runSendersCommand(args: string[], config: Config): Promise<number> {
  const [action, sender, ...rest] = args
  if (action !== 'resume' || !sender || rest.length > 0 || !/^(\+[1-9]\d{6,14}|\d{3,8}|MG[0-9a-fA-F]{32})$/.test(sender)) {
    console.error(USAGE)
    return 2
  }
  const { openStore, migrate } = await import('../../shared/db/database.js')
  const { resumeSending } = await import('../bridge/pacing.js')
  const { systemClock } = await import('../../shared/clock.js')
  const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
  try {
    await migrate(store)
    const outcome = await resumeSending({ store, clock: systemClock }, sender)
    if (outcome === 'not_paused') {
      console.error(`Sender ${sender} is not paused: nothing to resume.`)
      return 1
    }
    console.log(`Sender ${sender} resumed: its held automated and bulk texts go again, at its rate.`)
    return 0
  } finally {
    await store.close()
  }
}
