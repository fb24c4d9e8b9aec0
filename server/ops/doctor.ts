import { intercomFailure, intercomHost } from '../clients/intercom.js'
import { twilioFailure, twilioHost } from '../clients/twilio.js'
import { lastInboundAt } from '../../shared/db/messages.js'
import { lastReceiptAt } from '../../shared/db/receipts.js'
import { unhandledTopics } from '../../shared/db/cache.js'
import { networkCode } from '../clients/reachability.js'
import type { UpstreamError } from '../../shared/errors.js'
import { SURFACE_NAMES, type SurfaceRefusals } from '../refusals.js'
import { pendingMigrations, ping, type Store } from '../../shared/db/database.js'
import type { Clients } from '../clients/index.js'
import type { Config } from '../config.js'
import { DEFAULT_MAX_ATTEMPTS, deadJobsByTask, queueStats } from '../queue/queue.js'
import { retryBudget } from '../queue/worker.js'
import type { StepResult } from './setup.js'
import { reportConnectors } from './connectors.js'
import { migratedBy } from '../../shared/db/versions.js'
import { pausedSenders } from '../../shared/db/pacing.js'
import type { SpikeDetail } from '../bridge/pacing.js'
import { PRODUCT, VERSION } from '../../shared/version.js'
import { checkSenders } from './senders-doctor.js'
import { reportMacros } from './macros-check.js'

const HOUR = 3_600_000

function ago(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s ago`
  if (ms < 2 * HOUR) return `${Math.round(ms / 60_000)} min ago`
  if (ms < 48 * HOUR) return `${Math.round(ms / HOUR)} h ago`
  return `${Math.round(ms / (24 * HOUR))} days ago`
}

export interface DoctorOptions {
  /** The time the checks measure ages from (default: now). */
  now?: number
  /** Where the running service answers (default: this machine, on PORT). */
  serviceUrl?: string
}

/**
 * Is this bridge healthy? Settings (already valid when this runs), the database and its migrations,
 * both APIs with these credentials, the queue, and whether webhooks have arrived lately.
 */
export async function runDoctor(config: Config, store: Store, clients: Clients, options: DoctorOptions = {}): Promise<StepResult[]> {
  const now = options.now ?? Date.now()
  const results: StepResult[] = []
  const say = (ok: boolean, line: string) => results.push({ ok, line, changed: false })
  say(true, `Version: ${PRODUCT} ${VERSION}.`)
  say(
    true,
    `Settings: valid (PUBLIC_URL ${config.publicUrl}, ${config.twilio.messagingServiceSid ? 'Messaging Service' : `${config.twilio.phoneNumbers.length} number(s)`}, Intercom ${config.intercom.region}).`,
  )

  try {
    await ping(store)
    const pending = await pendingMigrations(store)
    const by = await migratedBy(store.db)
    say(
      pending.length === 0,
      pending.length === 0
        ? `Database: reachable (${store.isLocalFile ? 'embedded file' : 'remote libSQL'}), migrations applied${by ? ` (last migrated by ${by})` : ''}.`
        : `Database: migrations not applied: ${pending.join(', ')}. Run sms-bridge migrate (or start the service).`,
    )
    if (pending.length > 0) return results
  } catch (err) {
    say(false, `Database: cannot be reached at ${store.url.replace(/\?.*$/, '')}: ${(err as Error).message}`)
    return results
  }

  const intercom = intercomHost(config.intercom)
  try {
    const me = await clients.intercom.admins.identify()
    say(true, `Intercom: reachable at ${intercom}, token accepted (admin ${me?.id}).`)
  } catch (err) {
    const failure = intercomFailure(err, 'check the token', intercom)
    say(false, `Intercom: ${failure.status === 401 ? `${intercom} rejects the access token (401)` : unreachable(failure)}.`)
  }
  await reportMacros(config, clients.intercom, say)
  const twilio = twilioHost(config.twilio)
  try {
    await clients.twilio.api.v2010.accounts(config.twilio.accountSid).fetch()
    say(true, `Twilio: reachable at ${twilio}, credentials accepted.`)
  } catch (err) {
    const failure = twilioFailure(err, 'check the credentials', twilio)
    say(false, `Twilio: ${failure.status === 401 ? `${twilio} rejects the account SID or auth token (401)` : unreachable(failure)}.`)
  }

  for (const finding of await checkSenders(config, store, clients)) say(finding.ok, finding.line)
  await reportConnectors(config, say, now)
  await reportQueue(store, say, now)
  await reportTraffic(store, results, now)
  await reportPausedSenders(store, say, now)
  await reportRefusals(config, say, now, options.serviceUrl)
  return results
}

/** Dead jobs by task, why they are dead, and the commands that run them again. */
function deadJobsLine(byTask: Array<{ task: string; count: number }>): string {
  const total = byTask.reduce((n, r) => n + r.count, 0)
  const list = byTask.map((r) => `${r.task} ${r.count}`).join(', ')
  const hours = (retryBudget(DEFAULT_MAX_ATTEMPTS).averageMs / HOUR).toFixed(1)
  return (
    `Queue: ${total} dead job(s) (${list}): texts or replies that did not go through, refused for good or out of attempts (about ${hours} h of retries). ` +
    `See them with sms-bridge jobs list; once the cause is fixed, run them again with sms-bridge jobs retry --all-dead (one task: --all-dead --task ${byTask[0]!.task}).`
  )
}

/** What a code means for someone checking the bridge, where it says more than the code. */
const CODE_HINTS: Record<string, string> = {
  ENOTFOUND: 'the name does not resolve; check DNS and the region setting',
  EAI_AGAIN: 'the name does not resolve; check DNS and the region setting',
  ECONNREFUSED: 'nothing listens there',
  ECONNRESET: 'the connection was cut; a proxy or firewall on the way?',
  ETIMEDOUT: 'no answer in time',
}

/** Which host could not be reached, and how (the code), in place of the SDK's wording. */
function unreachable(failure: UpstreamError): string {
  const why = failure.details.unreachable
  if (!why) return failure.message
  const hint = CODE_HINTS[why.code]
  return `could not reach ${why.host} (${why.code}${hint ? `: ${hint}` : ''})`
}

/**
 * Requests refused for their signature: only the running service knows (a refusal writes nothing),
 * so they are asked of it, on this machine, with ADMIN_TOKEN (`GET /admin/refusals`).
 */
async function reportRefusals(config: Config, say: (ok: boolean, line: string) => void, now: number, serviceUrl?: string): Promise<void> {
  if (!config.adminToken) {
    say(
      true,
      'Signatures: set ADMIN_TOKEN to see here the requests the running service refused for their signature (until then, its log says at warn).',
    )
    return
  }
  const host =
    config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host
  const base = serviceUrl ?? `http://${host}:${config.port}`
  let body: { since: string; surfaces: Array<Omit<SurfaceRefusals, 'last'> & { last: string }> }
  try {
    const res = await fetch(`${base}/admin/refusals`, {
      headers: { authorization: `Bearer ${config.adminToken}` },
      signal: AbortSignal.timeout(5_000),
    })
    if (!res.ok) throw new Error(`it answered ${res.status}`)
    body = (await res.json()) as typeof body
  } catch (err) {
    say(
      false,
      `Signatures: could not ask the running service at ${base} which requests it refused (${networkCode(err) ?? (err as Error).message}); is it running on this machine?`,
    )
    return
  }
  const started = ago(now - Date.parse(body.since))
  if (body.surfaces.length === 0) say(true, `Signatures: no request refused for its signature since the service started ${started}.`)
  for (const r of body.surfaces) {
    say(
      false,
      `${SURFACE_NAMES[r.surface] ?? r.surface}: ${r.count} request(s) refused for their signature since the service started ${started}, the last ${ago(now - Date.parse(r.last))}; likely cause: ${r.cause}.`,
    )
  }
}

type Say = (ok: boolean, line: string) => void

/** Dead jobs, and whether due jobs are being taken. */
async function reportQueue(store: Store, say: Say, now: number): Promise<void> {
  const stats = await queueStats(store.db, now)
  say(stats.dead === 0, stats.dead === 0 ? 'Queue: no dead jobs.' : deadJobsLine(await deadJobsByTask(store.db)))
  const stuck = stats.oldestDueAgeMs > 5 * 60_000
  say(
    !stuck,
    `Queue: ${stats.waiting} waiting, ${stats.running} running${stats.oldestDueAgeMs ? `; the oldest due job has waited ${ago(stats.oldestDueAgeMs)}` : ''}${stuck ? ' (is the service running?)' : ''}.`,
  )
}

/** Senders that paused their automated and bulk texts (pacing.ts), why, and how to resume. */
async function reportPausedSenders(store: Store, say: Say, now: number): Promise<void> {
  for (const p of await pausedSenders(store.db)) {
    const d = JSON.parse(p.paused_detail ?? '{}') as Partial<SpikeDetail>
    const why =
      p.paused_why === 'carrier_filtering'
        ? `carriers filtered ${d.filtered} of its last ${d.of} settled automated and bulk texts as spam (30007)`
        : `${d.optedOut} of its last ${d.of} settled automated and bulk texts went to customers who had opted out (21610)`
    say(
      false,
      `Sender ${p.sender}: automated and bulk texts paused by themselves ${ago(now - p.paused_at!)}: ${why}. Teammates' replies still go. ` +
        `Find the cause (the texts' wording, the audience's consent; Twilio's Messaging Insights), then resume with sms-bridge senders resume ${p.sender}.`,
    )
  }
}

/** When texts and webhooks last arrived, and the topics Intercom sends that the bridge ignores. */
async function reportTraffic(store: Store, results: StepResult[], now: number): Promise<void> {
  const say: Say = (ok, line) => results.push({ ok, line, changed: false })
  const lastText = await lastInboundAt(store.db)
  const lastWebhook = await lastReceiptAt(store.db, 'intercom')
  for (const [last, name] of [
    [lastText, 'Twilio inbound texts'],
    [lastWebhook, 'Intercom webhooks'],
  ] as const) {
    // A new install has had no traffic: a warning, not a failure (doctor exits 0 on it).
    if (last === null)
      results.push({
        ok: true,
        warn: true,
        changed: false,
        line: `${name}: none received yet. Normal before the first text; if texts were sent, check the webhook configuration (sms-bridge setup prints it).`,
      })
    else say(now - last < 7 * 24 * HOUR, `${name}: last received ${ago(now - last)}.`)
  }
  // Answered 200 so they never count towards Intercom pausing the subscription, but still noise.
  const ignored = await unhandledTopics(store.db)
  if (ignored.length > 0) {
    const list = ignored.map((t) => `${t.topic} (${t.count}, last ${ago(now - t.last)})`).join(', ')
    say(false, `Intercom webhooks: the app sends topics the bridge ignores; untick them in the Developer Hub (Webhooks): ${list}.`)
  }
}
