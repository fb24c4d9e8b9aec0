import { countMessages } from '../shared/db/messages.js'
import { pausedSenders } from '../shared/db/pacing.js'
import type { Reachability } from './clients/reachability.js'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Store } from '../shared/db/database.js'
import { deadJobsByTask, queueStats } from './queue/queue.js'

/**
 * The bridge's Prometheus metrics, in a registry of its own (several apps can live in one process,
 * as in tests). Queue and message figures are read from the database when scraped, so they are
 * true for every process sharing it, not just this one.
 */
export class Metrics {
  readonly registry = new Registry()

  readonly httpRequests = new Counter({
    name: 'bridge_http_requests_total',
    help: 'Requests answered, by route and status code (webhooks: 200 stored, 401/403 bad signature, 400 invalid)',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  })

  readonly jobsSettled = new Counter({
    name: 'bridge_jobs_settled_total',
    help: 'Jobs finished by this process, by task and outcome (completed, retry, dead)',
    labelNames: ['task', 'outcome'] as const,
    registers: [this.registry],
  })

  readonly apiDuration = new Histogram({
    name: 'bridge_api_request_duration_seconds',
    help: 'Calls to the Twilio and Intercom APIs, by API and status code (0: no answer)',
    labelNames: ['api', 'status'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })

  readonly apiRateLimited = new Counter({
    name: 'bridge_api_rate_limited_total',
    help: 'Calls answered 429 by Twilio or Intercom',
    labelNames: ['api'] as const,
    registers: [this.registry],
  })

  readonly unhandledTopics = new Counter({
    name: 'bridge_intercom_unhandled_topics_total',
    help: 'Intercom webhooks of topics the bridge does not handle, answered 200 and dropped: untick these topics in the app',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  })

  readonly signatureRefusals = new Counter({
    name: 'bridge_signature_refusals_total',
    help: 'Requests refused for a missing or wrong signature (or Series secret), by surface and reason; sms-bridge doctor names the likely cause',
    labelNames: ['surface', 'reason'] as const,
    registers: [this.registry],
  })

  readonly outsiderTextsRefused = new Counter({
    name: 'bridge_outsider_texts_refused_total',
    help: "Texts an outsider could cause (verification codes, confirmations, welcomes) refused, by kind and reason: a cap, the allowed countries, or (codes) the number's state or Twilio",
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  })

  readonly outsiderBudgetExhausted = new Counter({
    name: 'bridge_outsider_budget_exhausted_total',
    help: 'A day budget (codes, welcomes) used up before 18:00 UTC: real visitors and new leads wait for the next day; a flood, or a cap set too low',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })

  /** Per day: increase(bridge_sms_segments_sent_total[1d]); Twilio bills each segment as one text. */
  readonly segmentsSent = new Counter({
    name: 'bridge_sms_segments_sent_total',
    help: "SMS segments of the texts Twilio accepted from this process, by direction (Twilio's NumSegments, else the bridge's own count)",
    labelNames: ['direction'] as const,
    registers: [this.registry],
  })

  readonly senderPauses = new Counter({
    name: 'bridge_sender_pauses_total',
    help: 'Senders that paused their automated and bulk texts by themselves, by reason (carrier_filtering: 30007; opt_outs: 21610); sms-bridge doctor names them, sms-bridge senders resume <sender> resumes',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })

  readonly pacedHolds = new Counter({
    name: 'bridge_paced_texts_held_total',
    help: "Automated and bulk texts told to wait for their sender, by lane and why (rate: the sender's texts a second; daily_cap; paused)",
    labelNames: ['lane', 'why'] as const,
    registers: [this.registry],
  })

  readonly memoryReleases = new Counter({
    name: 'bridge_memory_releases_total',
    help: "Memory-reducing collections the service ran to give V8's spare heap pages back to the system (server/memory.ts)",
    registers: [this.registry],
  })

  readonly memoryReleasedBytes = new Counter({
    name: 'bridge_memory_released_bytes_total',
    help: 'Resident memory those collections gave back, in bytes',
    registers: [this.registry],
  })

  constructor(store: Store) {
    collectDefaultMetrics({ register: this.registry, prefix: 'bridge_' })
    const jobs = new Gauge({
      name: 'bridge_jobs',
      help: 'Jobs in the queue by state (waiting, running, dead)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const stats = await queueStats(store.db)
        for (const state of ['waiting', 'running', 'dead'] as const) this.set({ state }, stats[state])
        oldest.set(stats.oldestDueAgeMs / 1000)
      },
    })
    const oldest = new Gauge({
      name: 'bridge_queue_oldest_due_seconds',
      help: 'Age of the oldest job that is due but not yet running (0 when none)',
      registers: [this.registry],
    })
    void jobs
    new Gauge({
      name: 'bridge_jobs_dead',
      help: 'Dead jobs (out of attempts, or refused for good) by task: a text or reply that did not go through. sms-bridge doctor lists them; sms-bridge jobs retry --all-dead runs them again',
      labelNames: ['task'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await deadJobsByTask(store.db)
        this.reset()
        for (const r of rows) this.set({ task: r.task }, r.count)
      },
    })
    // Counters read from the store: writes per commit shows how well group commit is batching.
    const counters = [
      ['bridge_db_commits_total', 'Write transactions committed (one fsync each on a local file)', () => store.commits],
      ['bridge_db_writes_total', 'Writes committed; several share one commit under load', () => store.writes],
    ] as const
    for (const [name, help, read] of counters) {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset()
          this.inc(read())
        },
      })
    }
    this.pacingGauge(store)
    new Gauge({
      name: 'bridge_texts',
      help: 'Texts stored, by direction, status and Twilio error code',
      labelNames: ['direction', 'status', 'error_code'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await countMessages(store.db)
        this.reset()
        for (const r of rows)
          this.set({ direction: r.direction, status: r.status, error_code: r.errorCode === null ? '' : String(r.errorCode) }, r.count)
      },
    })
  }

  /** Paused senders, read from the database when scraped (true for every process sharing it). */
  private pacingGauge(store: Store): void {
    new Gauge({
      name: 'bridge_senders_paused',
      help: 'Senders whose automated and bulk texts are paused (carrier filtering or opt-outs spiked), by reason',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await pausedSenders(store.db)
        this.reset()
        for (const reason of ['carrier_filtering', 'opt_outs'] as const)
          this.set({ reason }, rows.filter((r) => r.paused_why === reason).length)
      },
    })
  }

  /** Told of every API call's outcome (the service's Reachability, for outage lines). */
  reachability: Pick<Reachability, 'answered' | 'failed'> | undefined

  /** One API call: its status (0 when nothing answered) and how long it took. */
  observeApi(api: 'twilio' | 'intercom', status: number, seconds: number): void {
    this.apiDuration.observe({ api, status: String(status) }, seconds)
    if (status === 429) this.apiRateLimited.inc({ api })
    if (status > 0) this.reachability?.answered(api)
    else this.reachability?.failed(api)
  }

  /** Runs one API call, recording how long it took and its status (0 when nothing answered). */
  async timeApi<T>(api: 'twilio' | 'intercom', call: () => Promise<T>, statusOf: (result: T) => number): Promise<T> {
    const started = performance.now()
    try {
      const result = await call()
      this.observeApi(api, statusOf(result), (performance.now() - started) / 1000)
      return result
    } catch (err) {
      this.observeApi(api, 0, (performance.now() - started) / 1000)
      throw err
    }
  }

  /** A fetch that records every call it makes (the Intercom SDK takes one). */
  instrumentedFetch(api: 'twilio' | 'intercom', base: typeof fetch = fetch): typeof fetch {
    return (input, init) =>
      this.timeApi(
        api,
        () => base(input, init),
        (res) => res.status,
      )
  }
}
