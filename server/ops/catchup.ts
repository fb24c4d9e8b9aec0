import type { Config } from '../config.js'
import { catchUpFrom, MAX_CATCH_UP_MS } from '../bridge/catchup.js'

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `--since 24h`: how far back, in minutes, hours or days; undefined when it does not say so. */
export function parseSince(value: string | undefined): number | undefined {
  const match = /^(\d{1,4})([mhd])$/.exec(value ?? '')
  if (!match) return undefined
  const ms = Number(match[1]) * UNITS[match[2]!]!
  return ms > 0 && ms <= MAX_CATCH_UP_MS ? ms : undefined
}

/**
 * `sms-bridge catchup --since <age>`: the operator asks for texts from Twilio's log that this database
 * does not have (a first start takes none older than itself). The running service does the work at
 * its catch-up, made due now; texts Intercom already shows are found there, not posted again.
 */
export async function catchUpCommand(config: Config, args: string[], now = Date.now()): Promise<{ code: number; out: string }> {
  const [flag, value, ...rest] = args
  const ms = flag === '--since' && rest.length === 0 ? parseSince(value) : undefined
  if (ms === undefined) {
    return { code: 2, out: 'Usage: sms-bridge catchup --since <age>, with <age> like 90m, 24h or 3d (at most 7d)' }
  }
  const { migrate, openStore } = await import('../../shared/db/database.js')
  const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
  try {
    await migrate(store)
    const from = now - ms
    await catchUpFrom(store, from, now)
    return {
      code: 0,
      out:
        `The catch-up will take the texts sent since ${new Date(from).toISOString()} that this database does not have ` +
        '(up to 1,000 a number), at its next turn: within a minute when the service is running, else when it starts. ' +
        'Texts Intercom already shows are found there and not posted again.',
    }
  } finally {
    await store.close()
  }
}
