import { createHash } from 'node:crypto'
import { DataConnectorsApi, type ConnectorSpec, type DataConnector, type DataInput } from '../clients/data-connectors.js'
import { intercomFailure, intercomHost } from '../clients/intercom.js'
import type { ConnectorName } from '../bridge/connector-texts.js'
import { CONNECTOR_PATHS } from '../routes/connectors.js'
import { connectorToken } from '../../shared/signatures.js'
import { maskPhonesInText } from '../../shared/log.js'
import type { Config } from '../config.js'

// The two "Send SMS" data connectors (Intercom 2.16 Data Connectors API): `setup` creates or updates
// them (found by name), `doctor` reads their execution results.

export const CONNECTOR_NAMES: Record<ConnectorName, string> = {
  workflows: 'Send SMS (SMS bridge)',
  fin: 'Send SMS for Fin (SMS bridge)',
}

const input = (name: string, description: string, required: boolean): DataInput => ({
  name,
  type: 'string',
  description,
  required,
  default_value: '',
})

const INPUTS = {
  template: input(
    'template',
    'The text to send: "macro:<macro id>" or the name of a template in SMS_TEMPLATES. Never the text itself.',
    true,
  ),
  purpose: input('purpose', 'Why the text is sent: "marketing" or "transactional" (decides which consent rules apply).', true),
  variables: input(
    'variables',
    'Values for the template\'s placeholders: "name=value; other=value". Plain words only: links are left out.',
    false,
  ),
  step: input('step', 'Only when one Workflow sends the same template twice in one conversation: a name for this step.', false),
  contactId: input(
    'contact_id',
    "The contact's Intercom id (the contact's ID attribute). The text goes to this contact's own number.",
    true,
  ),
  conversationId: (required: boolean) =>
    input(
      'conversation_id',
      'The id of the conversation this runs in (the conversation ID attribute). The text is recorded there.',
      required,
    ),
}

/**
 * The connector's request body. Intercom fills `{{input}}` with each data input: the values a
 * customer may have typed come first and the ids last, and the bridge refuses a body naming a field
 * twice, so a value pasted in unescaped cannot choose the recipient.
 */
function bodyTemplate(fields: string[]): string {
  return `{${fields.map((f) => `"${f}":"{{${f}}}"`).join(',')}}`
}

/** A short fingerprint of the connector's token, in its description: `setup` sees a changed token without reading it. */
const fingerprint = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 10)

/** What each connector must be. */
export function connectorSpec(config: Config, connector: ConnectorName): ConnectorSpec {
  const token = connectorToken(config.intercom.clientSecret, connector)
  const fin = connector === 'fin'
  const inputs = fin
    ? [INPUTS.template, INPUTS.variables, INPUTS.contactId, INPUTS.conversationId(true)]
    : [INPUTS.template, INPUTS.variables, INPUTS.step, INPUTS.purpose, INPUTS.contactId, INPUTS.conversationId(false)]
  const templates = [...config.templates.keys()].join(', ') || 'none yet'
  const what = fin
    ? `Texts the customer Fin is talking to, on their own number, a transactional text they asked for (templates: ${templates}). Never marketing.`
    : 'Texts the contact on their own number, from a template, through the SMS bridge (consent, quiet hours and caps apply).'
  return {
    name: CONNECTOR_NAMES[connector],
    description: `${what} Answers result: sent, scheduled (quiet hours; send_at) or refused (reason). Made by sms-bridge setup; key ${fingerprint(token)}.`,
    http_method: 'post',
    url: `${config.publicUrl}${CONNECTOR_PATHS[connector]}`,
    body: bodyTemplate(inputs.map((i) => i.name)),
    headers: [
      { name: 'Content-Type', value: 'application/json' },
      { name: 'Authorization', value: `Bearer ${token}` },
    ],
    data_inputs: inputs,
    direct_fin_usage: fin,
    audiences: ['leads', 'users'],
    // Our own token authenticates Intercom to the bridge; customer authentication (OTP) stays off.
    bypass_authentication: false,
    customer_authentication: false,
    validate_missing_attributes: true,
    // Makes `result`, `reason` and `send_at` response fields a Workflow can branch on.
    mock_response: { result: 'sent', reason: 'opted_out', send_at: '2026-12-08T09:00:00.000Z' },
    token_ids: [],
  }
}

/** What differs between a connector in Intercom and what it must be (header values cannot be read: the key is in the description). */
export function connectorDifferences(found: DataConnector, want: ConnectorSpec): string[] {
  const norm = (inputs: DataInput[] | undefined) =>
    JSON.stringify((inputs ?? []).map((i) => [i.name, i.type, i.required, i.description ?? '', i.default_value ?? '']))
  const checks: Array<[string, boolean]> = [
    ['description', found.description !== want.description],
    ['URL', found.url !== want.url],
    ['body', found.body !== want.body],
    ['method', found.http_method !== want.http_method],
    ['Fin use', found.direct_fin_usage !== want.direct_fin_usage],
    ['audiences', JSON.stringify([...(found.audiences ?? [])].sort()) !== JSON.stringify([...want.audiences].sort())],
    ['data inputs', norm(found.data_inputs) !== norm(want.data_inputs)],
    ['headers', JSON.stringify((found.headers ?? []).map((h) => h.name)) !== JSON.stringify(want.headers.map((h) => h.name))],
    [
      'authentication',
      found.bypass_authentication !== want.bypass_authentication || found.customer_authentication !== want.customer_authentication,
    ],
    ['state', found.state !== 'live'],
  ]
  return checks.filter(([, differs]) => differs).map(([name]) => name)
}

type Say = (ok: boolean, line: string, changed?: boolean) => void

/**
 * Creates or updates both connectors, found by name: created (in draft, as Intercom makes them) and
 * set live; one that differs is updated and set live; one that matches is left alone.
 */
export async function ensureConnectors(config: Config, api: DataConnectorsApi, run: { dryRun: boolean; say: Say }): Promise<void> {
  const existing = await api.list()
  for (const connector of ['workflows', 'fin'] as const) {
    const want = connectorSpec(config, connector)
    const summary = existing.find((c) => c.name === want.name)
    const label = `Intercom: the data connector "${want.name}"`
    if (!summary) {
      if (!run.dryRun) await api.update((await api.create(want)).id, { state: 'live' })
      run.say(true, `${label}: ${run.dryRun ? 'would create it and set it live' : 'created and set live'} (${want.url}).`, true)
      continue
    }
    const differs = connectorDifferences(await api.get(summary.id), want)
    if (differs.length === 0) {
      run.say(true, `${label} is live and up to date.`)
      continue
    }
    if (!run.dryRun) {
      const { mock_response: _mock, name: _name, ...fields } = want
      await api.update(summary.id, { ...fields, state: 'live' })
    }
    run.say(true, `${label}: ${run.dryRun ? 'would update' : 'updated'} ${differs.join(', ')}.`, true)
  }
}

/** Step for `setup`: the connectors, or why they could not be made (a workspace without the API, a token without the scope). */
export async function setUpConnectors(config: Config, run: { dryRun: boolean; say: Say }): Promise<void> {
  try {
    await ensureConnectors(config, new DataConnectorsApi(config.intercom), run)
  } catch (err) {
    run.say(
      false,
      `Intercom: the Send SMS data connectors: ${intercomFailure(err, 'set up the data connectors', intercomHost(config.intercom)).message}.`,
    )
  }
}

const DAY = 24 * 3_600_000

/**
 * Step for `doctor`: each bridge connector's failed executions in the last day (how many, the last
 * error and when), from Intercom's execution results. Error messages are Intercom's (URLs redacted by
 * Intercom; numbers masked here); request bodies are never read.
 */
export async function reportConnectors(config: Config, say: (ok: boolean, line: string) => void, now: number): Promise<void> {
  const api = new DataConnectorsApi(config.intercom)
  try {
    const existing = await api.list()
    for (const connector of ['workflows', 'fin'] as const) {
      const found = existing.find((c) => c.name === CONNECTOR_NAMES[connector])
      if (!found) {
        say(true, `Data connector "${CONNECTOR_NAMES[connector]}": not set up (sms-bridge setup makes it).`)
        continue
      }
      const failed = await api.failures(found.id, now - DAY, now)
      const last = failed[0]
      say(
        failed.length === 0,
        !last
          ? `Data connector "${found.name}": ${found.state}, no failed execution in the last 24 h.`
          : `Data connector "${found.name}": ${failed.length}${failed.length >= 30 ? '+' : ''} failed execution(s) in the last 24 h; the last at ${last.created_at}: ${describe(last)}.`,
      )
    }
  } catch (err) {
    say(false, `Data connectors: ${intercomFailure(err, 'read the data connectors', intercomHost(config.intercom)).message}.`)
  }
}

function describe(e: { http_status: number | null; error_type?: string | null; error_message?: string | null }): string {
  const message = maskPhonesInText((e.error_message ?? '').slice(0, 200))
  return [e.error_type ?? 'error', e.http_status ? `HTTP ${e.http_status}` : null, message || null].filter(Boolean).join(', ')
}
