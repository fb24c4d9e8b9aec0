import { parsePhoneNumberFromString } from 'libphonenumber-js'
import type { Tx } from '../../shared/db/database.js'
import { countSend, sendCounts } from '../../shared/db/send-counts.js'
import type { Config } from '../config.js'
import { maskPhone } from '../../shared/log.js'
import type { BridgeDeps } from './deps.js'

/** The texts an outsider can make us send: each costs the team money, so each is budgeted. */
export type OutsiderText = 'verification' | 'confirmation' | 'welcome'

export interface CapRefusal {
  reason: 'country_not_allowed' | 'number_cap' | 'contact_cap' | 'daily_cap'
  /** For the team (the skip record, a note) and for the log. */
  sentence: string
}

export const utcDay = (now: number) => new Date(now).toISOString().slice(0, 10)

/**
 * Takes one text from the budgets an outsider-caused text must fit in (SMS pumping protection): the
 * number's country must be allowed, and the number, the contact and the day must each be under
 * their cap. In the caller's transaction, so the count and the text it allows commit together.
 * Teammates' replies never come here.
 */
export async function takeOutsiderBudget(
  trx: Tx,
  config: Pick<Config, 'allowedCountries' | 'caps'>,
  request: { phone: string; contactId: string },
  now = Date.now(),
): Promise<CapRefusal | null> {
  const country = parsePhoneNumberFromString(request.phone)?.country
  if (!country || !config.allowedCountries.has(country)) {
    return {
      reason: 'country_not_allowed',
      sentence: `Automated texts to ${country ?? 'this country'} are not allowed (SMS_ALLOWED_COUNTRIES is ${[...config.allowedCountries].join(',')}).`,
    }
  }
  const day = utcDay(now)
  const budgets = [
    { scope: 'number' as const, key: request.phone, cap: config.caps.perNumber, reason: 'number_cap' as const, what: 'this number' },
    { scope: 'contact' as const, key: request.contactId, cap: config.caps.perContact, reason: 'contact_cap' as const, what: 'this contact' },
    { scope: 'all' as const, key: '*', cap: config.caps.perDay, reason: 'daily_cap' as const, what: 'all numbers together' },
  ]
  const used = await sendCounts(trx, day, budgets)
  const over = budgets.findIndex((b, i) => used[i]! >= b.cap)
  if (over >= 0) {
    const b = budgets[over]!
    return { reason: b.reason, sentence: `The daily limit of ${b.cap} automated texts to ${b.what} was reached (SMS pumping protection); it resets at midnight UTC.` }
  }
  await countSend(trx, day, budgets)
  return null
}

/** Says, in a metric and a log line, that a cap refused a text (the number masked). */
export function capRefused(deps: Pick<BridgeDeps, 'metrics' | 'log'>, kind: OutsiderText, phone: string, refusal: CapRefusal): void {
  deps.metrics.outsiderTextsRefused.inc({ kind, reason: refusal.reason })
  deps.log.warn({ kind, reason: refusal.reason, phone: maskPhone(phone) }, 'an outsider-caused text was refused: SMS pumping protection')
}
