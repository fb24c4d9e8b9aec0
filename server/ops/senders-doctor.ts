import { IntercomApi } from '../clients/intercom.js'
import { TwilioApi } from '../clients/twilio.js'
import type { Clients } from '../clients/index.js'
import type { Config } from '../config.js'
import type { Store } from '../../shared/db/database.js'
import { errorMessage } from '../../shared/errors.js'
import { maskPhone } from '../../shared/log.js'

/** One finding about SENDERS: whether it is fine, and what it says (numbers masked). */
export interface SenderFinding {
  ok: boolean
  line: string
}

/** What SENDERS is checked against: the account's numbers, the service's pool, Intercom's teams and teammates. */
interface Account {
  numbers: Set<string>
  pool: Set<string> | null
  teams: Set<string>
  admins: Set<string>
}

/**
 * `doctor`'s look at SENDERS (nothing when it is unset): each number the bridge may send from is one
 * of the account's (and, with a Messaging Service, in its sender pool, since it goes as `From` beside
 * the service), and each team and teammate exists in Intercom. One line per problem.
 */
export async function checkSenders(config: Config, store: Store, clients: Clients): Promise<SenderFinding[]> {
  if (config.senders.size === 0) return []
  let account: Account
  try {
    account = await readAccount(config, store, clients)
  } catch (err) {
    return [{ ok: false, line: `Senders: SENDERS could not be checked: ${errorMessage(err)}` }]
  }
  const problems = [...numberProblems(config, account), ...assigneeProblems(config, account)]
  if (problems.length > 0) return problems.map((line) => ({ ok: false, line: `Senders: ${line}` }))
  return [
    {
      ok: true,
      line: `Senders: SENDERS matches the account's numbers and Intercom's teams and teammates (${config.senders.size} entr${config.senders.size === 1 ? 'y' : 'ies'}).`,
    },
  ]
}

async function readAccount(config: Config, store: Store, clients: Clients): Promise<Account> {
  const twilio = new TwilioApi(clients.twilio, config.twilio, `${config.publicUrl}/twilio/status`)
  const intercom = new IntercomApi(clients.intercom, config, store)
  const service = config.twilio.messagingServiceSid
  const { teams, admins } = await intercom.assigneeIds()
  return {
    numbers: new Set(await twilio.accountNumbers()),
    pool: service ? new Set(await twilio.serviceNumbers(service)) : null,
    teams,
    admins,
  }
}

function numberProblems(config: Config, account: Account): string[] {
  const ours = new Set([...config.twilio.phoneNumbers, ...[...config.senders.keys()].filter((k) => k.startsWith('+'))])
  const problems: string[] = []
  for (const number of ours) {
    if (!account.numbers.has(number)) {
      problems.push(
        `${maskPhone(number)} is not one of the Twilio account's numbers: no text can go out from it. Remove it, or buy or port it.`,
      )
    } else if (account.pool && !account.pool.has(number)) {
      problems.push(
        `${maskPhone(number)} is not in the Messaging Service's sender pool: add it to the service, or remove it from the settings.`,
      )
    }
  }
  return problems
}

function assigneeProblems(config: Config, account: Account): string[] {
  const problems: string[] = []
  for (const [key, settings] of config.senders) {
    if (settings.team && !account.teams.has(settings.team)) {
      problems.push(
        `team ${settings.team} (for ${maskPhone(key)}) is not one of Intercom's teams (GET /teams): its conversations stay unassigned.`,
      )
    }
    if (settings.teammate && !account.admins.has(settings.teammate)) {
      problems.push(`teammate ${settings.teammate} (for ${maskPhone(key)}) is not one of Intercom's teammates (GET /admins).`)
    }
  }
  return problems
}
