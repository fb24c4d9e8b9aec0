import { z } from 'zod'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import { channelOf } from '../../shared/channel.js'
import { lastSender, rememberSender, rememberSenderIfNew } from '../../shared/db/senders.js'
import type { Statement } from '../../shared/db/statement.js'
import { maskPhone } from '../../shared/log.js'
import type { Config } from '../config.js'
import type { SenderSettings } from '../senders-config.js'
import { defineTask } from '../queue/task.js'
import type { BridgeDeps } from './deps.js'

// Which of our numbers a customer sees: the one they last wrote to or were last texted from (kept per
// customer number in `customer_senders`, so a merged or re-created contact, another conversation or
// a restart changes nothing), while it is still configured; else the number SENDERS gives their
// country; else the first configured number (or the Messaging Service's own choice).

/** Who a text goes out from, and why (for the logs and tests). */
export interface SenderChoice {
  /** Our number to send from (beside the Messaging Service when one is set), or null: the service picks. */
  from: string | null
  /** What the message row keeps as our end: the number, the WhatsApp sender, or the service SID. */
  recorded: string | null
  why: 'whatsapp' | 'sticky' | 'country' | 'default'
}

/** Whether the bridge may still send from this number: listed in TWILIO_PHONE_NUMBER, or in SENDERS with a service. */
export function isConfiguredNumber(config: Pick<Config, 'twilio' | 'senders'>, number: string): boolean {
  if (config.twilio.phoneNumbers.includes(number)) return true
  return Boolean(config.twilio.messagingServiceSid) && number.startsWith('+') && config.senders.has(number)
}

/**
 * The sender of a text to `phone`. `conversationNumber` is the conversation's end, which only decides
 * the channel: a customer who wrote on WhatsApp is answered on WhatsApp, from the sender they wrote to.
 */
export async function chooseSender(
  deps: Pick<BridgeDeps, 'store' | 'config' | 'log'>,
  to: { phone: string; conversationNumber: string | null },
): Promise<SenderChoice> {
  const { config } = deps
  if (to.conversationNumber && channelOf(to.conversationNumber) === 'whatsapp') {
    return { from: to.conversationNumber, recorded: to.conversationNumber, why: 'whatsapp' }
  }
  const service = config.twilio.messagingServiceSid ?? null
  const pick = (from: string | null, why: SenderChoice['why']): SenderChoice => ({ from, recorded: service ?? from, why })
  const last = await lastSender(deps.store.db, to.phone)
  if (last && isConfiguredNumber(config, last)) return pick(last, 'sticky')
  if (last) {
    deps.log.info(
      { number: maskPhone(last), phone: maskPhone(to.phone) },
      'the number this customer last used is no longer configured; texting them from the default sender',
    )
  }
  const byCountry = countrySender(config, to.phone)
  if (byCountry) return pick(byCountry, 'country')
  return pick(service ? null : (config.twilio.phoneNumbers[0] ?? null), 'default')
}

/** The sender with nothing known of the customer: the Messaging Service, else the first number. */
export function defaultSender(config: Pick<Config, 'twilio'>): { from: string | null; recorded: string | null } {
  const service = config.twilio.messagingServiceSid ?? null
  const from = service ? null : (config.twilio.phoneNumbers[0] ?? null)
  return { from, recorded: service ?? from }
}

/** The configured number SENDERS names for the customer's country, if any. */
function countrySender(config: Pick<Config, 'twilio' | 'senders'>, phone: string): string | null {
  const country = parsePhoneNumberFromString(phone)?.country
  if (!country) return null
  for (const [number, settings] of config.senders) {
    if (settings.countries?.includes(country) && isConfiguredNumber(config, number)) return number
  }
  return null
}

/**
 * Remembers our end of a text as the customer's sender, when it is a number (not a WhatsApp or RCS
 * sender, nor a service SID): `at` is when that text was made.
 */
export function senderUsed(phone: string, ours: string | null | undefined, at: number): Statement[] {
  return isNumber(ours) ? [rememberSender(phone, ours, at)] : []
}

/** `senderUsed` for an inbound text, after the statements that store it and queue its job: nothing for a redelivery. */
export function senderOfNewText(phone: string, ours: string, at: number): Statement[] {
  return isNumber(ours) ? [rememberSenderIfNew(phone, ours, at)] : []
}

const isNumber = (address: string | null | undefined): address is string => Boolean(address && /^\+[1-9]\d{6,14}$/.test(address))

/** A number's SENDERS entry, else the Messaging Service's (its senders share it), else none. */
export function settingsOf(config: Pick<Config, 'twilio' | 'senders'>, ours: string | null): SenderSettings | null {
  const number = ours ? ours.replace(/^whatsapp:/, '') : null
  const own = number ? config.senders.get(number) : undefined
  if (own) return own
  const service = config.twilio.messagingServiceSid
  return (service && config.senders.get(service)) || null
}

/** Whether a conversation opened by a text to `ours` has anything to get from SENDERS (a tag, an assignee). */
export function routesConversations(config: Pick<Config, 'twilio' | 'senders'>, ours: string | null): boolean {
  const settings = settingsOf(config, ours)
  return Boolean(settings && (settings.tag || settings.team || settings.teammate))
}

/** A conversation a text to one of our numbers opened gets that number's tag and assignee (SENDERS). */
export const routeTask = defineTask(
  'conversation.route_by_number',
  z.object({ conversationId: z.string().min(1), number: z.string().min(1) }),
  {
    run: routeConversation,
    keys: { route: (conversationId: string) => `route:${conversationId}` },
  },
)

/** Job: the tag, then the team, then the teammate, as SENDERS says now. Each is harmless twice. */
export async function routeConversation(deps: BridgeDeps, payload: { conversationId: string; number: string }): Promise<void> {
  const settings = settingsOf(deps.config, payload.number)
  if (!settings) return
  if (settings.tag) await deps.intercom.tagConversation(payload.conversationId, settings.tag)
  if (settings.team) await deps.intercom.assignConversation(payload.conversationId, { type: 'team', id: settings.team })
  if (settings.teammate) await deps.intercom.assignConversation(payload.conversationId, { type: 'admin', id: settings.teammate })
}
