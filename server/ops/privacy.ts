import { migrate, openStore } from '../../shared/db/database.js'
import { maskPhone } from '../../shared/log.js'
import { normalizeSender } from '../../shared/phone.js'
import { erasePerson, exportPerson, type EraseOutcome, type PersonRef } from '../bridge/privacy.js'
import type { Config } from '../config.js'

export const PRIVACY_USAGE =
  'Usage: sms-bridge erase --phone <number> | --contact <Intercom contact id>\n       sms-bridge export --phone <number> | --contact <Intercom contact id>'

/** `--phone +14155550100` or `--contact 65f0...`, exactly one; null when the arguments say neither. */
export function parsePersonArgs(args: string[], config: Pick<Config, 'defaultCountry'>): PersonRef | null {
  const [flag, value, ...rest] = args
  if (rest.length > 0 || !value || value.startsWith('-')) return null
  if (flag === '--contact') return /^[\w-]{1,64}$/.test(value) ? { contactId: value } : null
  if (flag !== '--phone') return null
  // As texts store it: E.164 (typed in any form DEFAULT_COUNTRY lets it be read), or a short code.
  const sender = normalizeSender(value, config.defaultCountry)
  return sender && sender.kind !== 'alphanumeric' ? { phone: sender.value } : null
}

/** `sms-bridge erase` and `sms-bridge export`: what the bridge holds about one person, removed or printed. */
export async function runPrivacyCommand(
  command: 'erase' | 'export',
  args: string[],
  config: Config,
  out: (line: string) => void = console.log,
): Promise<number> {
  const ref = parsePersonArgs(args, config)
  if (!ref) {
    console.error(PRIVACY_USAGE)
    return 2
  }
  const store = await openStore({ url: config.database.url, authToken: config.database.authToken })
  try {
    await migrate(store)
    if (command === 'export') {
      // For the person who asked: their own numbers and words, in full.
      out(JSON.stringify({ exported_at: new Date().toISOString(), ...(await exportPerson(store.db, ref)) }, null, 2))
      return 0
    }
    out(eraseSentence(ref, await erasePerson({ store }, ref, Date.now())))
    return 0
  } finally {
    await store.close()
  }
}

function eraseSentence(ref: PersonRef, outcome: EraseOutcome): string {
  const who = 'phone' in ref ? maskPhone(ref.phone) : `contact ${ref.contactId}`
  if (outcome.kind === 'nothing_held') return `The bridge holds nothing about ${who}.`
  const lines = [
    `Erased what the bridge held about ${who} (${outcome.phones} number(s), ${outcome.contacts} contact(s)):`,
    `  ${outcome.messages} texts anonymised (MessageSid, status and segments kept, so a redelivered webhook is not taken as new)`,
    `  ${outcome.links} links and ${outcome.conversations} conversations, ${outcome.verifications} verifications, ${outcome.jobs} queued jobs deleted`,
    `  ${outcome.automated} welcome/Series records stripped of number and words, ${outcome.consentDeleted} consent records deleted`,
  ]
  if (outcome.broadcastRecipients > 0)
    lines.push(`  ${outcome.broadcastRecipients} broadcast recipient records deleted (a text not yet sent will not be)`)
  if (outcome.optOutKept) lines.push('  The opt-out (STOP) is kept, with the number alone: without it the bridge could text them again.')
  if (outcome.redactions > 0) {
    lines.push(
      `  ${outcome.redactions} texts will be redacted at Twilio by the running service (jobs privacy.redact; a text still on its way waits until it is final).`,
    )
  }
  lines.push('  The conversations and the contact in Intercom are not touched: delete the contact there.')
  return lines.join('\n')
}
