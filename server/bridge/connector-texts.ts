import { createHash } from 'node:crypto'
import type { Intercom } from 'intercom-client'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import { findSmsConversation, setSmsConversation } from '../../shared/db/contacts.js'
import { connectorAnswerOnce, getConnectorAnswer } from '../../shared/db/connector-answers.js'
import type { Tx } from '../../shared/db/database.js'
import { runIn } from '../../shared/db/statement.js'
import { automatedTarget, connectorRequester, quietUntilFor, requestAutomated, sendKeys, type TargetRefusal } from './automated.js'
import type { Purpose } from './consent.js'
import type { BridgeDeps } from './deps.js'
import { parseTemplateRef, renderTemplateRef, type Rendered } from './templates.js'
import { defaultSender } from './senders.js'

/** The two data connectors `setup` makes: one for Workflows, one Fin may call directly. */
export type ConnectorName = 'workflows' | 'fin'

/** What a connector asks for. Every field is untrusted: Fin fills its inputs from what a customer typed. */
export interface ConnectorRequest {
  connector: ConnectorName
  contactId: string
  /** The conversation the Workflow or Fin runs in (the text is recorded there when the contact has no SMS conversation). */
  conversationId: string | null
  /** "macro:<id>" or a name from SMS_TEMPLATES: never the text itself. */
  template: string
  purpose: Purpose
  variables: Record<string, string>
  /** Tells apart two steps of one Workflow that send the same template in one conversation. */
  step: string
}

export type ConnectorRefusal =
  | 'purpose_not_allowed'
  | 'contact_not_found'
  | 'not_in_conversation'
  | 'country_not_allowed'
  | TargetRefusal
  | Extract<Rendered, { ok: false }>['reason']

/**
 * What the connector answers, for a Workflow to branch on. `sent` means accepted for sending: the
 * text is queued, and a later failure (a cap reached meanwhile, Twilio refusing) is noted in the
 * conversation. `scheduled`: quiet hours hold it until `send_at`.
 */
export type ConnectorAnswer =
  { result: 'sent' } | { result: 'scheduled'; send_at: string } | { result: 'refused'; reason: ConnectorRefusal }

/**
 * What identifies a run. Intercom sends no run or execution id with a connector's request (the
 * execution results are only readable afterwards), so a run is its conversation, contact, step and
 * what it asks to send: Intercom's retry of the same request is the same run and answers the first
 * answer; a second step with the same template in one conversation needs its own `step`.
 */
export function runKey(req: ConnectorRequest): string {
  const vars = Object.entries(req.variables).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const what = JSON.stringify([req.connector, req.conversationId, req.contactId, req.step, req.template, req.purpose, vars])
  return createHash('sha256').update(what).digest('base64url').slice(0, 32)
}

/**
 * A connector's "Send SMS": decided now as far as it can be (contact, conversation, trusted number,
 * consent, template, country, quiet hours), then queued as an automated text (`requestAutomated`,
 * kind `workflow`), which checks again when it goes. The first answer for a run is kept and repeated.
 */
export async function requestConnectorText(
  deps: BridgeDeps,
  req: ConnectorRequest,
): Promise<{ answer: ConnectorAnswer; repeated: boolean }> {
  const key = sendKeys.workflow(runKey(req))
  const first = await getConnectorAnswer<ConnectorAnswer>(deps.store.db, key)
  if (first) return { answer: first, repeated: true }
  const decided = await decide(deps, req)
  const now = deps.clock.now()
  return deps.store.transaction(async (trx) => {
    const accepted = 'accepted' in decided ? decided.accepted : null
    const kept = await connectorAnswerOnce<ConnectorAnswer>(
      trx,
      key,
      accepted?.answer ?? (decided as { answer: ConnectorAnswer }).answer,
      now,
    )
    // A concurrent delivery of the same run answered first: its answer, and nothing more.
    if (!kept.first || !accepted) return { answer: kept.answer, repeated: !kept.first }
    const { contact, phone, body } = accepted
    await adoptConversation(trx, deps, { contactId: contact.id, conversationId: req.conversationId, phone })
    const requestedBy = connectorRequester(req.connector, req.purpose)
    await requestAutomated(trx, { key, kind: 'workflow', contactId: contact.id, phone, body, template: req.template, requestedBy }, now)
    return { answer: kept.answer, repeated: false }
  })
}

type Decision =
  { answer: ConnectorAnswer } | { accepted: { contact: Intercom.Contact; phone: string; body: string; answer: ConnectorAnswer } }

const refused = (reason: ConnectorRefusal): Decision => ({ answer: { result: 'refused', reason } })

async function decide(deps: BridgeDeps, req: ConnectorRequest): Promise<Decision> {
  // Fin acts on what a customer asks: it may send what they asked for, never marketing.
  if (req.connector === 'fin' && req.purpose !== 'transactional') return refused('purpose_not_allowed')
  const contact = await deps.intercom.findContact(req.contactId)
  if (!contact) return refused('contact_not_found')
  if (!(await inConversation(deps, req))) return refused('not_in_conversation')
  const target = await automatedTarget(
    deps,
    { kind: 'workflow', phone: null, intercom_contact_id: contact.id, requested_by: connectorRequester(req.connector, req.purpose) },
    contact,
  )
  if ('skip' in target) return refused(target.skip.code)
  const rendered = await renderTemplateRef(deps, parseTemplateRef(req.template), contact, req.variables)
  if (!rendered.ok) return refused(rendered.reason)
  const country = parsePhoneNumberFromString(target.phone)?.country
  if (!country || !deps.config.allowedCountries.has(country)) return refused('country_not_allowed')
  const until = quietUntilFor(deps, contact, deps.clock.now())
  const answer: ConnectorAnswer = until ? { result: 'scheduled', send_at: new Date(until).toISOString() } : { result: 'sent' }
  return { accepted: { contact, phone: target.phone, body: rendered.body, answer } }
}

/** How recently a conversation Fin acts in must have changed: Fin calls the connector while it talks in it. */
export const FIN_CONVERSATION_FRESH_MS = 15 * 60_000

/**
 * Whether the contact is one of the conversation's contacts. Fin fills a connector's inputs itself:
 * a customer could give it someone else's contact id, but not make them part of this conversation;
 * and Fin's conversation must be one that is going on now, not an old one whose ids leaked.
 */
async function inConversation(deps: BridgeDeps, req: ConnectorRequest): Promise<boolean> {
  if (!req.conversationId) return req.connector === 'workflows'
  const conversation = await deps.intercom.findConversation(req.conversationId)
  if (!conversation) return false
  const contacts = (conversation.contacts as { contacts?: Array<{ id: string }> } | undefined)?.contacts ?? []
  if (!contacts.some((c) => c.id === req.contactId)) return false
  if (req.connector === 'workflows') return true
  return deps.clock.now() - (conversation.updated_at ?? 0) * 1000 <= FIN_CONVERSATION_FRESH_MS
}

/**
 * A contact with no SMS conversation: the conversation the Workflow or Fin runs in becomes it (as
 * the sidebar does for a teammate's first text), so nothing new opens and the customer's reply
 * threads where the team already talks to them. Without one, the worker opens one (ensureSmsConversation).
 */
async function adoptConversation(
  trx: Tx,
  deps: BridgeDeps,
  c: { contactId: string; conversationId: string | null; phone: string },
): Promise<void> {
  if (!c.conversationId || (await findSmsConversation(trx, c.contactId))) return
  const { recorded } = defaultSender(deps.config)
  await runIn(trx, ...setSmsConversation({ ...c, conversationId: c.conversationId, twilioNumber: recorded }, deps.clock.now()))
}
