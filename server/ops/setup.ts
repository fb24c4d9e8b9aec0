import { intercomFailure, intercomHost } from '../clients/intercom.js'
import { twilioFailure, twilioHost } from '../clients/twilio.js'
import { errorMessage } from '../../shared/errors.js'
import type { Clients } from '../clients/index.js'
import type { Config } from '../config.js'
import { INTERCOM_API_VERSION, pickSmsSubscriptionType } from '../clients/intercom.js'
import { WEBHOOK_TOPICS } from '../routes/intercom.js'
import { CONSENT_ATTRIBUTE, LEGACY_CONSENT_ATTRIBUTE } from '../bridge/consent.js'
import { SETUP_ATTRIBUTES } from '../bridge/contact-attributes.js'
import { CONNECTOR_NAMES, setUpConnectors } from './connectors.js'

export interface StepResult {
  ok: boolean
  /** Fine, but worth a look (e.g. no traffic yet on a new install): printed as WARN, exits 0. */
  warn?: boolean
  /** What happened or would happen, in a sentence. */
  line: string
  changed: boolean
}

function explainIntercom(err: unknown, config: Config): string {
  const failure = intercomFailure(err, 'check the token', intercomHost(config.intercom))
  const status = failure.status
  if (status === 401)
    return `Intercom rejected INTERCOM_ACCESS_TOKEN (401). Copy the access token from your app in the Developer Hub; check INTERCOM_REGION (${config.intercom.region}) matches your workspace.`
  if (status === 403)
    return 'Intercom says the token lacks a permission (403). Give the app read and write access to contacts, conversations, tags and data attributes.'
  return `${failure.message}.`
}

function explainTwilio(err: unknown, config: Config): string {
  const failure = twilioFailure(err, 'check the credentials', twilioHost(config.twilio))
  if (failure.status === 401 || failure.details.code === 20003)
    return 'Twilio rejected TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN (401). Copy both from the Twilio Console home page.'
  if (failure.status === 404) return `Twilio does not know that resource (404): ${errorMessage(failure.cause)}`
  return `${failure.message}.`
}

/** One setup run: what it may use, whether it may change anything, and where its lines go. */
interface SetupRun {
  config: Config
  clients: Clients
  dryRun: boolean
  say: (ok: boolean, line: string, changed?: boolean) => void
}

/**
 * Checks the credentials, creates what the bridge needs in Intercom, and points Twilio at the bridge.
 * Safe to run again: only what is missing or different changes. With `dryRun`, nothing changes.
 */
export async function runSetup(config: Config, clients: Clients, dryRun: boolean): Promise<StepResult[]> {
  const results: StepResult[] = []
  const say = (ok: boolean, line: string, changed = false) => results.push({ ok, line, changed })
  const run: SetupRun = { config, clients, dryRun, say }
  // Intercom: who are we, then the tag and the attributes.
  if (await checkIntercomToken(run)) await setUpIntercom(run)
  // Twilio: the account, then where texts to our numbers (or the Messaging Service) are sent.
  await setUpTwilio(run)
  return results
}

async function checkIntercomToken({ config, clients, say }: SetupRun): Promise<boolean> {
  try {
    const me = await clients.intercom.admins.identify()
    say(true, `Intercom: the token works (admin ${me?.name ?? me?.id}, workspace ${me?.app?.name ?? '?'}, API ${INTERCOM_API_VERSION}).`)
    return true
  } catch (err) {
    say(false, explainIntercom(err, config))
    return false
  }
}

async function setUpIntercom(run: SetupRun): Promise<void> {
  try {
    await ensureTag(run)
    await ensureAttributes(run)
    await findSmsSubscriptionType(run)
  } catch (err) {
    run.say(false, explainIntercom(err, run.config))
  }
  await setUpConnectors(run.config, run)
}

async function ensureTag({ config, clients, dryRun, say }: SetupRun): Promise<void> {
  const tags = await clients.intercom.tags.list()
  if (tags.data?.some((t) => t.name === config.smsTag)) {
    say(true, `Intercom: the "${config.smsTag}" tag exists.`)
    return
  }
  if (!dryRun) await clients.intercom.tags.create({ name: config.smsTag })
  say(true, `Intercom: ${dryRun ? 'would create' : 'created'} the "${config.smsTag}" tag.`, true)
}

async function ensureAttributes({ clients, dryRun, say }: SetupRun): Promise<void> {
  const existing = await clients.intercom.dataAttributes.list({ model: 'contact' })
  // Intercom refuses to set attributes that do not exist: the ones the bridge writes, made ahead.
  for (const attribute of SETUP_ATTRIBUTES) {
    if (existing.data?.some((a) => a.name === attribute.name)) {
      say(true, `Intercom: the contact attribute ${attribute.name} exists.`)
      continue
    }
    if (!dryRun)
      await clients.intercom.dataAttributes.create({
        name: attribute.name,
        data_type: attribute.dataType,
        description: attribute.description,
        model: 'contact',
      } as never)
    say(true, `Intercom: ${dryRun ? 'would create' : 'created'} the contact attribute ${attribute.name} (${attribute.dataType}).`, true)
  }
  // Versions before 0.2 created a custom `sms_consent`, which shadows Intercom's native field.
  if (existing.data?.some((a) => a.name === LEGACY_CONSENT_ATTRIBUTE && a.custom === true)) {
    say(
      true,
      `Intercom: the custom contact attribute ${LEGACY_CONSENT_ATTRIBUTE} was made by an earlier version and has the name of Intercom's own SMS consent field. ` +
        `The bridge now writes ${CONSENT_ATTRIBUTE} and still honours the old attribute; once no rule or report uses it, archive it (Settings -> Data -> People).`,
    )
  }
}

/**
 * Reports the workspace's SMS subscription type, which opt-outs are shown on, or how to make one:
 * Intercom's API lists subscription types but cannot create them.
 */
async function findSmsSubscriptionType({ clients, say }: SetupRun): Promise<void> {
  const type = pickSmsSubscriptionType((await clients.intercom.subscriptionTypes.list()).data ?? [])
  if (type) {
    const how = type.consentType === 'opt_out' ? 'an opt-out is shown as unsubscribed' : 'an opt-out detaches the contact'
    say(true, `Intercom: opt-outs are shown on the SMS subscription type "${type.name}" (${type.consentType.replace('_', '-')}: ${how}).`)
    return
  }
  say(
    true,
    'Intercom: no live subscription type includes SMS, so opt-outs show only as the sms_opted_out attribute. ' +
      "To show them in Intercom's subscription preferences too, create one in Intercom (Settings -> Subscriptions -> " +
      'New subscription type: channel SMS, opt-out consent); the API cannot. The bridge finds it within the hour.',
  )
}

async function setUpTwilio(run: SetupRun): Promise<void> {
  const { config, clients, say } = run
  try {
    const account = await clients.twilio.api.v2010.accounts(config.twilio.accountSid).fetch()
    say(true, `Twilio: the credentials work (account "${account.friendlyName}", ${account.status}).`)
    for (const number of config.twilio.phoneNumbers) await pointNumber(run, number)
    if (config.twilio.messagingServiceSid) await pointMessagingService(run, config.twilio.messagingServiceSid)
  } catch (err) {
    say(false, explainTwilio(err, config))
  }
}

/** Where Twilio sends texts to the bridge's numbers. */
function smsUrlOf(config: Config): string {
  return `${config.publicUrl}/twilio/sms`
}

async function pointNumber({ config, clients, dryRun, say }: SetupRun, number: string): Promise<void> {
  const smsUrl = smsUrlOf(config)
  const [found] = await clients.twilio.incomingPhoneNumbers.list({ phoneNumber: number, limit: 1 })
  if (!found) {
    say(false, `Twilio: ${number} is not a number on this account. Check TWILIO_PHONE_NUMBER.`)
    return
  }
  if (found.smsUrl === smsUrl && found.smsMethod === 'POST') {
    say(true, `Twilio: ${number} already sends texts to ${smsUrl}.`)
    return
  }
  if (!dryRun) await clients.twilio.incomingPhoneNumbers(found.sid).update({ smsUrl, smsMethod: 'POST' })
  say(
    true,
    `Twilio: ${dryRun ? 'would point' : 'pointed'} ${number}'s incoming texts at ${smsUrl}${found.smsUrl ? ` (was ${found.smsUrl})` : ''}.`,
    true,
  )
}

async function pointMessagingService({ config, clients, dryRun, say }: SetupRun, serviceSid: string): Promise<void> {
  const smsUrl = smsUrlOf(config)
  const service = await clients.twilio.messaging.v1.services(serviceSid).fetch()
  if (service.inboundRequestUrl === smsUrl && service.useInboundWebhookOnNumber === false) {
    say(true, `Twilio: the Messaging Service "${service.friendlyName}" already sends texts to ${smsUrl}.`)
    return
  }
  if (!dryRun)
    await clients.twilio.messaging.v1
      .services(serviceSid)
      .update({ inboundRequestUrl: smsUrl, inboundMethod: 'POST', useInboundWebhookOnNumber: false })
  say(true, `Twilio: ${dryRun ? 'would point' : 'pointed'} the Messaging Service's incoming texts at ${smsUrl}.`, true)
}

/** What to paste into the Intercom Developer Hub and the Series editor. */
export function developerHubInstructions(config: Config): string {
  const base = config.publicUrl
  return [
    'In the Intercom Developer Hub, open your app:',
    `  Webhooks -> Endpoint URL: ${base}/intercom/webhooks`,
    `  Webhooks -> Topics: ${WEBHOOK_TOPICS.join(', ')}`,
    `  Canvas Kit (Inbox) -> Initialize URL: ${base}/canvas/inbox/initialize`,
    `  Canvas Kit (Inbox) -> Submit URL:     ${base}/canvas/inbox/submit`,
    `  Canvas Kit (Messenger) -> Initialize URL: ${base}/canvas/messenger/initialize`,
    `  Canvas Kit (Messenger) -> Submit URL:     ${base}/canvas/messenger/submit`,
    '',
    'In a Series, an SMS step is a Webhook block:',
    `  POST ${base}/intercom/series`,
    '  Headers: Content-Type: application/json',
    `           X-Bridge-Secret: ${config.seriesSecret ? '<your SERIES_WEBHOOK_SECRET>' : '<set SERIES_WEBHOOK_SECRET first>'}`,
    '  Payload: {"contact_id": "<the contact\'s Intercom id>", "step_id": "<a name for the step>", "message": "<text>"}',
    '           (or "template": "<a name from SMS_TEMPLATES>" instead of "message")',
    '',
    `Workflows and Fin: setup made the data connectors "${CONNECTOR_NAMES.workflows}" and "${CONNECTOR_NAMES.fin}" (live, with their token).`,
    '  In a Workflow, add the action and map contact_id and conversation_id to the contact ID and conversation ID attributes.',
    '  For Fin, open the Fin connector in Settings -> Integrations -> Data connectors and set contact_id and conversation_id',
    '  to those attributes too, so Fin never asks the customer for them; then let Fin use it.',
  ].join('\n')
}
