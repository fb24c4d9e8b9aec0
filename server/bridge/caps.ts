import { parsePhoneNumberFromString } from 'libphonenumber-js'
import type { Tx } from '../../shared/db/database.js'
import { countSend, sendCounts } from '../../shared/db/send-counts.js'
import type { Config } from '../config.js'
import { maskPhone } from '../../shared/log.js'
import { countryName } from '../../shared/phone.js'
import type { BridgeDeps } from './deps.js'

/** The texts an outsider can make us send: each costs the team money, so each is budgeted. */
export type OutsiderText = 'verification' | 'confirmation' | 'welcome'

/**
 * The day budgets, one per kind: codes are asked for by anyone with a Messenger, welcomes and
 * confirmations go to leads the team wants. Apart, so a flood of throwaway visitors spends only codes.
 */
export type DayBudget = 'codes' | 'welcomes'
export const dayBudgetOf = (kind: OutsiderText): DayBudget => (kind === 'verification' ? 'codes' : 'welcomes')

/** A day budget used up before this hour (UTC) is worth an alert: the rest of the day goes without. */
export const EARLY_EXHAUSTION_HOUR = 18

export interface CapRefusal {
  reason: 'country_not_allowed' | 'number_cap' | 'contact_cap' | 'daily_cap'
  /** For the team (the skip record, a note) and for the log. */
  sentence: string
}

/** What taking from the budgets did: refused (and why), or took; `usedUp` when it took the last of the day. */
export interface BudgetTaken {
  refusal: CapRefusal | null
  usedUp: DayBudget | null
}

export const utcDay = (now: number) => new Date(now).toISOString().slice(0, 10)

/** The first moment of the next UTC day, when every day budget starts again. */
export const nextUtcDay = (now: number) => Date.parse(`${utcDay(now)}T00:00:00.000Z`) + 24 * 3_600_000

/**
 * Takes one text from the budgets an outsider-caused text must fit in (SMS pumping protection): the
 * number's country must be allowed, and the number, the contact and the kind's day budget must each
 * be under their cap. In the caller's transaction, so the count and the text it allows commit
 * together. Teammates' replies never come here.
 */
export async function takeOutsiderBudget(
  trx: Tx,
  config: Pick<Config, 'allowedCountries' | 'caps'>,
  request: { kind: OutsiderText; phone: string; contactId: string },
  now: number,
): Promise<BudgetTaken> {
  const country = parsePhoneNumberFromString(request.phone)?.country
  if (!country || !config.allowedCountries.has(country)) {
    const allowed = [...config.allowedCountries].map(countryName).join(', ')
    const sentence = `Automated texts to ${country ? countryName(country) : 'this country'} are not allowed (SMS_ALLOWED_COUNTRIES: ${allowed}).`
    return { refusal: { reason: 'country_not_allowed', sentence }, usedUp: null }
  }
  const day = utcDay(now)
  const kind = dayBudgetOf(request.kind)
  const perDay = kind === 'codes' ? config.caps.codesPerDay : config.caps.welcomesPerDay
  const budgets = [
    {
      scope: 'number' as const,
      key: request.phone,
      cap: config.caps.perNumber,
      reason: 'number_cap' as const,
      what: 'automated texts to this number',
    },
    {
      scope: 'contact' as const,
      key: request.contactId,
      cap: config.caps.perContact,
      reason: 'contact_cap' as const,
      what: 'automated texts to this contact',
    },
    {
      scope: 'all' as const,
      key: kind,
      cap: perDay,
      reason: 'daily_cap' as const,
      what: kind === 'codes' ? 'verification codes in all' : 'welcome and confirmation texts in all',
    },
  ]
  const used = await sendCounts(trx, day, budgets)
  const over = budgets.findIndex((b, i) => used[i]! >= b.cap)
  if (over >= 0) {
    const b = budgets[over]!
    return {
      refusal: {
        reason: b.reason,
        sentence: `The daily limit of ${b.cap} ${b.what} was reached (SMS pumping protection); it resets at midnight UTC.`,
      },
      usedUp: null,
    }
  }
  await countSend(trx, day, budgets)
  return { refusal: null, usedUp: used[2]! + 1 === perDay ? kind : null }
}

/**
 * Takes one Messenger "Text me" submit from the contact's day budget, before anything about the
 * number typed is looked at: each try costs the same, whatever the number's state. False when spent.
 */
export async function takeSubmitBudget(trx: Tx, config: Pick<Config, 'caps'>, contactId: string, now: number): Promise<boolean> {
  const budget = [{ scope: 'submit' as const, key: contactId }]
  const [used] = await sendCounts(trx, utcDay(now), budget)
  if (used! >= config.caps.submitsPerContact) return false
  await countSend(trx, utcDay(now), budget)
  return true
}

/** Says, in metrics and log lines, what taking from the budgets did (the number masked). */
export function budgetTaken(
  deps: Pick<BridgeDeps, 'metrics' | 'log'>,
  t: { kind: OutsiderText; phone: string; taken: BudgetTaken; now: number },
): void {
  const { kind, phone, taken, now } = t
  if (taken.refusal) capRefused(deps, kind, phone, taken.refusal.reason)
  if (taken.usedUp && new Date(now).getUTCHours() < EARLY_EXHAUSTION_HOUR) {
    deps.metrics.outsiderBudgetExhausted.inc({ kind: taken.usedUp })
    deps.log.warn(
      { budget: taken.usedUp, at: new Date(now).toISOString() },
      `the day budget of ${taken.usedUp} ran out before ${EARLY_EXHAUSTION_HOUR}:00 UTC: more wait for the next day (a flood, or a cap set too low)`,
    )
  }
}

/** Says, in a metric and a log line, that a text an outsider asked for was refused (the number masked). */
export function capRefused(deps: Pick<BridgeDeps, 'metrics' | 'log'>, kind: OutsiderText, phone: string, reason: string): void {
  deps.metrics.outsiderTextsRefused.inc({ kind, reason })
  deps.log.warn(
    { kind, reason, phone: maskPhone(phone) },
    'an outsider-caused text was refused (SMS pumping protection, or the number may not be texted)',
  )
}
