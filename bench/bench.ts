import { runIn } from '../shared/db/statement.js'
// npm run bench [-- --duration SECONDS] [--json FILE] [--database file|remote] [--rtt MS] [--cpu-prof DIR [--ack-only] [--unbundled]] [--no-start-flags]
//
// Measures the bridge against its ceiling on this machine, with the loopback Twilio and Intercom
// stand-ins, and prints a table (and JSON with --json). Everything runs on 127.0.0.1 and stops by
// itself. Ratios are only meaningful within one run: the machine is shared and noisy.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { migrate, openStore } from '../shared/db/database.js'
import { claimJobs, completeJob, enqueue } from '../server/queue/queue.js'
import type { RecordedRequest } from '../sandbox/http.js'
import { startIntercomStandIn } from '../sandbox/intercom/index.js'
import { startLibsqlServerStandIn } from '../sandbox/libsql-server.js'
import { signTwilio, startTwilioStandIn } from '../sandbox/twilio/index.js'
import { OUR_NUMBER, PUBLIC_URL, standInEnv, wireWebhooks } from '../sandbox/env.js'
import { START_FLAGS } from '../scripts/start-flags.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined)
const DURATION = Number(option('--duration') ?? 10)
const JSON_FILE = option('--json')
/** Unset: the service's own default (4 on the embedded file, 16 on a remote database). */
const WORKERS = option('--worker-concurrency')
/**
 * `remote`: the service uses a libSQL server over HTTP (the loopback stand-in, in this process), as
 * machines sharing a Turso database do, instead of its embedded file.
 */
const DATABASE = option('--database') ?? 'file'
if (DATABASE !== 'file' && DATABASE !== 'remote') throw new Error('--database is file or remote')
/** With `--database remote`: the libSQL stand-in waits this long before answering each request. */
const RTT = Number(option('--rtt') ?? 0)
/** Writes a V8 CPU profile of the service to this folder (open it in Chrome DevTools). */
const CPU_PROF = option('--cpu-prof')
/** Stops after the ack phase (with --cpu-prof: a profile of the ack path alone, the worker's drain beside it included). */
const ACK_ONLY = args.includes('--ack-only')
/** Runs the compiled modules (dist/server/cli.js) instead of the bundle, so a profile names each package. */
/** Starts the service without `npm start`'s heap flags, to see what they cost and save. */
const NO_START_FLAGS = args.includes('--no-start-flags')
/** More Node or V8 flags for the service, after npm start's (one string: `--node-flags "--a --b=1"`), for A/B runs. */
const NODE_FLAGS = (option('--node-flags') ?? '').split(/\s+/).filter(Boolean)
/**
 * `--memory-trace`: every 500 ms, a line on stderr with the service's RSS, its own (anonymous)
 * memory and each V8 heap space's size and use (from its metrics), to see which grows in which phase.
 */
const MEMORY_TRACE = args.includes('--memory-trace')
/** `--heap-snapshots DIR`: V8 heap snapshots of the service into DIR, at idle and after the acks (open them in Chrome DevTools). */
const HEAP_SNAPSHOTS = option('--heap-snapshots')
const ENTRY = args.includes('--unbundled') ? 'dist/server/cli.js' : 'dist/bundle/cli.js'
const CONNECTIONS = 50
/**
 * `--limits`: instead of the throughput phases, the platforms' limits. The Intercom stand-in enforces
 * `--rate-limit` calls per 10-second window (default 167: 1,000 a minute); `--backlog N` first texts
 * (default 1,500) arrive at once with a teammate's reply in the middle; reported: the reply's latency
 * to Twilio, refused (429) calls per delivered text, and the drain's calls as a share of the limit.
 */
const LIMITS = args.includes('--limits')
/**
 * `--broadcast`: instead of the throughput phases, a broadcast to `--recipients N` tagged contacts
 * (default 300) from a sender set to `--rate M` texts a second (default 10, SENDERS "rate"); reported:
 * the achieved rate against M (first to last text at Twilio), the time to expand and to send, and
 * the peak RSS.
 */
const BROADCAST = args.includes('--broadcast')
const RECIPIENTS = Number(option('--recipients') ?? 300)
const SENDER_RATE = Number(option('--rate') ?? 10)
const RATE_LIMIT = Number(option('--rate-limit') ?? 167)
const BACKLOG = Number(option('--backlog') ?? 1_500)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN
}
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

function startProcess(
  cmd: string,
  argv: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: ChildProcess; port: number; startedAt: number }> {
  const startedAt = performance.now()
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = ready.exec(out)
      if (m) {
        clearTimeout(timer)
        // From here the output is only drained: kept and searched, it would cost the load
        // generator (this process) more with every request the service logs.
        child.stdout.off('data', onData).resume()
        child.stderr.off('data', onData).resume()
        out = ''
        resolve({ child, port: Number(m[1]), startedAt })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => reject(new Error(`exited with ${code}:\n${out}`)))
  })
}

/** A figure of the process's /proc status, in MB: VmRSS, VmHWM (the peak RSS) or RssAnon. */
function statusMb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024)
}

/**
 * Watches the service's memory from now on: the peak RSS is the kernel's own high-water mark (VmHWM,
 * over the process's whole life, start included, unless `restart()` set it back to the current RSS).
 * RSS also counts the pages of the Node binary the process has touched (47 MB on Node 20, 56 MB on
 * Node 24): clean pages of a file, which the kernel drops and reads again when memory is short. What
 * the process itself holds is its anonymous memory (V8's heap, Buffers, native allocations), which
 * the kernel keeps no high-water mark of: it is sampled every 50 ms, so a spike shorter than that can
 * be missed.
 */
function watchMemory(pid: number) {
  let peakAnon = 0
  const sample = () => {
    try {
      peakAnon = Math.max(peakAnon, statusMb(pid, 'RssAnon'))
    } catch {
      // The process has exited: the peaks are what was seen.
    }
  }
  sample()
  setInterval(sample, 50).unref()
  return {
    peaks: () => ({ peak_rss_mb: statusMb(pid, 'VmHWM'), peak_anon_mb: peakAnon }),
    /** From here on, peaks from the current figures (Linux's clear_refs: 5 resets the high-water mark). */
    restart() {
      writeFileSync(`/proc/${pid}/clear_refs`, '5')
      peakAnon = 0
      sample()
    },
  }
}

/**
 * The process's memory by where it is, in MB. Its own (anonymous) memory by the size of the mapping
 * that holds it: malloc's main heap (`brk`), mappings under 1 MB (V8's heap pages are 256 KB), 1 to
 * 16 MB, and larger (malloc's per-thread arenas reserve 64 MB each). Files' pages: the Node binary's,
 * native addons' (`.node`), and the rest.
 */
function memoryByMapping(pid: number): string {
  const totals = { brk: 0, small: 0, mid: 0, large: 0, node: 0, addons: 0, files: 0 }
  let kind: keyof typeof totals = 'small'
  let file = false
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line)
    if (range) {
      const mb = (parseInt(range[2]!, 16) - parseInt(range[1]!, 16)) / 2 ** 20
      const name = range[4] ?? ''
      file = range[3] !== '0'
      kind = name === '[heap]' ? 'brk' : mb < 1 ? 'small' : mb < 16 ? 'mid' : 'large'
      if (file) kind = /\/node$/.test(name) ? 'node' : name.endsWith('.node') ? 'addons' : 'files'
      continue
    }
    const figure = /^(Anonymous|Rss):\s+(\d+) kB/.exec(line)
    if (figure && (figure[1] === 'Rss') === file) totals[kind] += Number(figure[2]) / 1024
  }
  return Object.entries(totals)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(' ')
}

/** `--memory-trace`: see there. Stops by itself when the service has gone. */
function traceMemory(base: string, token: string, pid: number) {
  const t0 = performance.now()
  const sample = async () => {
    let figures: string
    try {
      figures = `rss ${statusMb(pid, 'VmRSS')} anon ${statusMb(pid, 'RssAnon')} (${memoryByMapping(pid)})`
    } catch {
      return clearInterval(timer) // the process has exited
    }
    // The heap's figures come from the service's metrics, which a busy service may answer late or not at all.
    const text = await metricsText(base, token, 400).catch(() => '')
    const spaces = new Map<string, { size: number; used: number }>()
    for (const m of text.matchAll(/^bridge_nodejs_heap_space_size_(total|used)_bytes\{space="(\w+)"\} ([\d.e+]+)/gm)) {
      const entry = spaces.get(m[2]!) ?? { size: 0, used: 0 }
      entry[m[1] === 'total' ? 'size' : 'used'] = Number(m[3]) / 2 ** 20
      spaces.set(m[2]!, entry)
    }
    const external = /^bridge_nodejs_external_memory_bytes ([\d.e+]+)/m.exec(text)?.[1]
    const heap = [...spaces]
      .filter(([, v]) => v.size >= 0.5)
      .map(([k, v]) => `${k.replace(/_space$/, '')} ${v.used.toFixed(0)}/${v.size.toFixed(0)}`)
    const seconds = ((performance.now() - t0) / 1000).toFixed(1).padStart(6)
    console.error(`${seconds}s ${figures}${external ? ` | external ${(Number(external) / 2 ** 20).toFixed(0)} | ${heap.join(' ')}` : ''}`)
  }
  const timer = setInterval(() => void sample(), 500)
  timer.unref()
}

type Request = autocannon.Request

async function load(url: string, setup: (req: Request) => Request) {
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    requests: [{ setupRequest: setup }],
  })
}

let phases = 0
/**
 * The one load every throughput phase gets (the ceiling, the floor, the service): signed, distinct
 * texts from 500 numbers, each with its own MessageSid, signed in this process per request. Returns
 * the load's result and how many texts it sent.
 */
async function textLoad(url: string, authToken: string) {
  const phase = ++phases
  let n = 0
  const result = await load(url, (req) => {
    const i = n++
    const form: Record<string, string> = {
      MessageSid: `SM${phase.toString(16).padStart(4, '0')}${i.toString(16).padStart(28, '0')}`,
      AccountSid: ACCOUNT_SID,
      From: `+1415556${String(i % 500).padStart(4, '0')}`,
      To: OUR_NUMBER,
      Body: `load ${i}`,
      NumMedia: '0',
    }
    return {
      ...req,
      body: new URLSearchParams(form).toString(),
      headers: { ...req.headers, 'x-twilio-signature': signTwilio(authToken, `${PUBLIC_URL}/twilio/sms`, form) },
    }
  })
  return result
}
let ACCOUNT_SID = ''

/**
 * The queue with a backlog, as after a long Intercom outage: 20,000 waiting jobs over 2,000
 * customers. Milliseconds for one claim of 4 jobs plus their completion (5 commits).
 */
async function claimWithBacklog(dir: string, backlog = 20_000): Promise<number> {
  const store = await openStore({ url: `file:${join(dir, 'queue.db')}` })
  try {
    await migrate(store)
    await store.transaction(async (trx) => {
      for (let i = 0; i < backlog; i++)
        await runIn(trx, enqueue({ task: 'bench', payload: { i }, queueKey: `phone:${i % 2_000}` }, Date.now() - 1_000))
    })
    const rounds = 200
    const t0 = performance.now()
    for (let k = 0; k < rounds; k++) {
      for (const job of await claimJobs(store, { workerId: 'bench', limit: 4, leaseMs: 60_000, now: Date.now() }))
        await store.run(completeJob(job, 'bench'))
    }
    return round((performance.now() - t0) / rounds, 2)
  } finally {
    await store.close()
  }
}

/** `--heap-snapshots`: signals the service to write one and waits until the new file stops growing. */
async function heapSnapshot(child: ChildProcess, dir: string) {
  const before = new Set(readdirSync(dir))
  child.kill('SIGUSR2')
  // A snapshot of the service's heap takes seconds; two minutes without one is a failure.
  for (let size = -1, waited = 0; waited < 120_000; waited += 500) {
    await sleep(500)
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'))
    if (!file) continue
    const now = statSync(join(dir, file)).size
    if (now === size && now > 0) return console.error(`heap snapshot: ${join(dir, file)}`)
    size = now
  }
  throw new Error(`no heap snapshot appeared in ${dir} within 2 minutes`)
}

/** With --cpu-prof, V8 writes the profile when the process exits normally. */
async function stopService(child: ChildProcess) {
  if (!CPU_PROF) return
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  console.log(`CPU profile of the service written to ${CPU_PROF}`)
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sms-bridge-bench-'))
  const twilio = await startTwilioStandIn()
  const intercom = await startIntercomStandIn()
  const libsqlServer = DATABASE === 'remote' ? await startLibsqlServerStandIn({ path: join(dir, 'server.db'), delayMs: RTT }) : null
  ACCOUNT_SID = twilio.accountSid
  const children: ChildProcess[] = []
  try {
    // The ceiling: Fastify and formbody answering, nothing checked or stored.
    const bare = await startProcess(process.execPath, [join(ROOT, 'bench/bare-server.mjs')], {}, /PORT (\d+)/)
    children.push(bare.child)
    const bareResult = await textLoad(`http://127.0.0.1:${bare.port}/twilio/sms`, twilio.authToken)
    bare.child.kill('SIGKILL')

    // The durable floor: the signature checked and each text stored with a full fsync, nothing more.
    const floor = await startProcess(
      process.execPath,
      [join(ROOT, 'bench/durable-floor.mjs'), join(dir, 'floor.db'), twilio.authToken, PUBLIC_URL],
      {},
      /PORT (\d+)/,
    )
    children.push(floor.child)
    const floorResult = await textLoad(`http://127.0.0.1:${floor.port}/twilio/sms`, twilio.authToken)
    floor.child.kill('SIGKILL')

    // The service, from process start to ready (migrations included).
    const env = {
      ...standInEnv(twilio, intercom, join(dir, 'bridge.db')),
      ...(libsqlServer ? { DATABASE_URL: libsqlServer.url, DATABASE_AUTH_TOKEN: libsqlServer.authToken } : {}),
      PORT: '0',
      HOST: '127.0.0.1',
      INTERCOM_ADMIN_ID: intercom.admin.id,
      ...(WORKERS ? { WORKER_CONCURRENCY: WORKERS } : {}),
      ADMIN_TOKEN: 'bench-admin-token-0123456789',
      ...(BROADCAST
        ? {
            SMS_TEMPLATES: JSON.stringify({ bench: 'Hi {{first_name|there}}, our winter sale starts today. Reply STOP to opt out.' }),
            SENDERS: JSON.stringify({ [OUR_NUMBER]: { rate: SENDER_RATE } }),
          }
        : {}),
    }
    const nodeFlags = [
      ...NODE_FLAGS,
      ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []),
      ...(HEAP_SNAPSHOTS ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_SNAPSHOTS}`] : []),
    ]
    // As `npm start` and the Dockerfile run it: with their heap flags.
    const service = await startProcess(
      process.execPath,
      [...(NO_START_FLAGS ? [] : START_FLAGS), ...nodeFlags, join(ROOT, ENTRY), 'start'],
      env,
      /Server listening at http:\/\/127\.0\.0\.1:(\d+)/,
    )
    children.push(service.child)
    const base = `http://127.0.0.1:${service.port}`
    // A service that stops right after it listened (a failing start step) must end the bench, not hang it.
    while ((await fetch(`${base}/readyz`).catch(() => null))?.status !== 200) {
      if (service.child.exitCode !== null || service.child.signalCode !== null)
        throw new Error('the service stopped before it was ready: run it with npm start to see why')
      await sleep(5)
    }
    const startToReadyMs = round(performance.now() - service.startedAt, 0)
    const memory = watchMemory(service.child.pid!)
    if (MEMORY_TRACE) traceMemory(base, env.ADMIN_TOKEN, service.child.pid!)

    if (BROADCAST) {
      const figures = await broadcastScenario({ base, env, twilio, intercom, memory })
      console.log(figures)
      if (JSON_FILE) writeFileSync(JSON_FILE, `${JSON.stringify(figures, null, 2)}\n`)
      return
    }
    if (LIMITS) {
      const figures = await limitsScenario({ base, env, twilio, intercom, memory })
      console.log(figures)
      if (JSON_FILE) writeFileSync(JSON_FILE, `${JSON.stringify(figures, null, 2)}\n`)
      return
    }
    const dbCounters = async () => {
      const text = await metricsText(base, env.ADMIN_TOKEN)
      const read = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
      const jobs = (state: string) => Number(new RegExp(`^bridge_jobs\\{state="${state}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
      const oldestDue = Number(/^bridge_queue_oldest_due_seconds ([\d.e+-]+)/m.exec(text)?.[1] ?? NaN)
      return { commits: read('bridge_db_commits_total'), writes: read('bridge_db_writes_total'), oldestDue, running: jobs('running') }
    }

    // Ack: the same load, every 200 meaning stored.
    const idleRss = statusMb(service.child.pid!, 'VmRSS')
    if (HEAP_SNAPSHOTS) await heapSnapshot(service.child, HEAP_SNAPSHOTS)
    const dbBefore = await dbCounters()
    const tripsBefore = libsqlServer?.requests ?? 0
    const ackResult = await textLoad(`${base}/twilio/sms`, twilio.authToken)
    const tripsAcked = libsqlServer?.requests ?? 0
    const ackPeakRss = statusMb(service.child.pid!, 'VmHWM')
    if (HEAP_SNAPSHOTS) await heapSnapshot(service.child, HEAP_SNAPSHOTS)
    const dbAfter = await dbCounters()
    if (ACK_ONLY) {
      console.log({
        inbound_ack_rps: round(ackResult.requests.average),
        ack_p99_ms: ackResult.latency.p99,
        ack_floor_ratio: round(ackResult.requests.average / floorResult.requests.average, 3),
        peak_rss_mb: ackPeakRss,
      })
      await stopService(service.child)
      return
    }
    // Let the queue drain before measuring end to end: nothing due and nothing running, twice in a
    // row (recurring jobs wait for later; at most 5 minutes).
    const drainStarted = performance.now()
    for (let idle = 0; idle < 2 && performance.now() - drainStarted < 300_000;) {
      const { oldestDue, running } = await dbCounters()
      idle = oldestDue === 0 && running === 0 ? idle + 1 : 0
      await sleep(250)
    }
    const drainSeconds = (performance.now() - drainStarted) / 1000
    const tripsDrained = libsqlServer?.requests ?? 0

    // From here on the simulators send the webhooks, signed and shaped as Twilio and Intercom send
    // them, to the public URL by way of this process (as fly.io's proxy would).
    wireWebhooks(twilio, intercom)
    const postSms = async (from: string, body: string) => {
      const { delivery } = await twilio.receiveText({ from, to: OUR_NUMBER, body, via: base })
      if (delivery?.status !== 200) throw new Error(`webhook answered ${delivery?.status}`)
    }
    /**
     * When the first request from index `from` on that matches arrived at a stand-in, waiting up to
     * 6 s. Only new requests are looked at: scanning tens of thousands every 2 ms would slow the
     * stand-ins (they share this process) and inflate what is measured.
     */
    const arrival = async (list: RecordedRequest[], from: number, match: (r: RecordedRequest) => boolean) => {
      for (let i = from, tries = 0; tries < 3000; tries++) {
        for (; i < list.length; i++) if (match(list[i]!)) return list[i]!.at
        await sleep(2)
      }
      return undefined
    }
    const bodyOf = (r: RecordedRequest) => (r.body as { body?: string; Body?: string } | null) ?? {}

    // Inbound end to end, known contacts (open SMS conversations from the load phase).
    const e2eIn: number[] = []
    const knownStart = intercom.requests.length
    const KNOWN = 100
    for (let i = 0; i < KNOWN; i++) {
      const body = `known ${i}`
      const from = intercom.requests.length
      const t0 = Date.now()
      await postSms(`+1415556${String(i % 500).padStart(4, '0')}`, body)
      const at = await arrival(intercom.requests, from, (r) => bodyOf(r).body === body)
      if (at) e2eIn.push(at - t0)
    }
    const callsKnown = (intercom.requests.length - knownStart) / KNOWN

    // First texts from new numbers.
    const NEW = 50
    const newStart = intercom.requests.length
    for (let i = 0; i < NEW; i++) {
      const body = `new ${i}`
      const from = intercom.requests.length
      await postSms(`+1415557${String(i).padStart(4, '0')}`, body)
      await arrival(intercom.requests, from, (r) => r.path === '/conversations' && bodyOf(r).body === body)
    }
    await sleep(300) // the tag job follows the conversation
    const callsNew = (intercom.requests.length - newStart) / NEW

    // Outbound end to end: a teammate's reply webhook to Twilio's create call.
    const e2eOut: number[] = []
    const conversations = intercom.conversations.slice(0, 100)
    for (const [i, conversation] of conversations.entries()) {
      const from = twilio.requests.length
      const t0 = Date.now()
      const { delivery } = await intercom.replyAsAdmin(conversation.id, { body: `<p>reply ${i}</p>` }, base)
      if (delivery?.status !== 200) throw new Error(`webhook answered ${delivery?.status}`)
      const at = await arrival(twilio.requests, from, (r) => r.method === 'POST' && bodyOf(r).Body === `reply ${i}`)
      if (at) e2eOut.push(at - t0)
    }

    const claimMs = await claimWithBacklog(dir)

    // The memory of the traffic above (start, acks, drain, end to end); the floods below are measured apart.
    const trafficMemory = memory.peaks()
    memory.restart()
    // Abuse: the unsigned 256 KB form of 44,000 fields a security review sent. Refused (413) before
    // it is parsed or its signature computed, it should cost about what an accepted text does.
    const abusive = Array.from({ length: 44_000 }, (_, i) => `f${i}=x`).join('&')
    const abuseResult = await load(`${base}/twilio/sms`, (req) => ({ ...req, body: abusive }))
    // The same trick within the size limit: 400 fields in 3 KB, refused by the field count alone.
    const crowded = Array.from({ length: 400 }, (_, i) => `f${i}=x`).join('&')
    const crowdedResult = await load(`${base}/twilio/sms`, (req) => ({ ...req, body: crowded }))
    const abuseMemory = memory.peaks()

    const figures = {
      duration_s: DURATION,
      database: DATABASE,
      connections: CONNECTIONS,
      ...(DATABASE === 'remote' ? { rtt_ms: RTT } : {}),
      bare_rps: round(bareResult.requests.average),
      durable_floor_rps: round(floorResult.requests.average),
      durable_floor_p99_ms: floorResult.latency.p99,
      inbound_ack_rps: round(ackResult.requests.average),
      inbound_ack_ratio: round(ackResult.requests.average / bareResult.requests.average, 3),
      ack_floor_ratio: round(ackResult.requests.average / floorResult.requests.average, 3),
      inbound_ack_non_2xx: ackResult.non2xx + ackResult.errors + ackResult.timeouts,
      ack_p50_ms: ackResult.latency.p50,
      ack_p99_ms: ackResult.latency.p99,
      inbound_e2e_p50_ms: percentile(e2eIn, 50),
      inbound_e2e_p99_ms: percentile(e2eIn, 99),
      outbound_e2e_p50_ms: percentile(e2eOut, 50),
      outbound_e2e_p99_ms: percentile(e2eOut, 99),
      intercom_calls_per_sms_known: round(callsKnown, 2),
      intercom_calls_per_sms_new: round(callsNew, 2),
      ack_texts: ackResult.requests.total,
      backlog_drain_s: round(drainSeconds),
      drain_texts_per_s: round(ackResult.requests.total / drainSeconds),
      ...(libsqlServer
        ? {
            round_trips_per_accepted_text: round((tripsAcked - tripsBefore) / ackResult.requests.total, 2),
            round_trips_per_delivered_text: round((tripsDrained - tripsAcked) / ackResult.requests.total, 2),
          }
        : {}),
      abusive_form_refusals_rps: round(abuseResult.requests.average),
      abusive_form_refusal_ratio: round(abuseResult.requests.average / ackResult.requests.average, 3),
      many_field_refusals_rps: round(crowdedResult.requests.average),
      many_field_refusal_ratio: round(crowdedResult.requests.average / ackResult.requests.average, 3),
      ack_writes_per_commit: round((dbAfter.writes - dbBefore.writes) / (dbAfter.commits - dbBefore.commits)),
      queue_claim_ms_20k_backlog: claimMs,
      idle_rss_mb: idleRss,
      ...trafficMemory,
      abuse_peak_rss_mb: abuseMemory.peak_rss_mb,
      abuse_peak_anon_mb: abuseMemory.peak_anon_mb,
      start_to_ready_ms: startToReadyMs,
      node: process.version,
    }
    const targets: Record<string, string> = {
      ack_floor_ratio: '>= 0.8',
      ack_p99_ms: '<= 15',
      peak_rss_mb: '<= 128',
      ...(DATABASE === 'remote' ? { round_trips_per_accepted_text: '1 per group commit', drain_texts_per_s: '>= 150' } : {}),
      inbound_e2e_p50_ms: '< 50',
      intercom_calls_per_sms_known: '= 1',
      start_to_ready_ms: '< 1000',
    }
    console.log('\nmetric                          value        target')
    for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(32)}${String(v).padEnd(13)}${targets[k] ?? ''}`)
    if (JSON_FILE) writeFileSync(JSON_FILE, `${JSON.stringify(figures, null, 2)}\n`)
    if (CPU_PROF) await stopService(service.child)
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    await twilio.close()
    await intercom.close()
    await libsqlServer?.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The service's metrics (Prometheus text); with `timeoutMs`, an answer later than that or not 200 is an error. */
async function metricsText(base: string, token: string, timeoutMs?: number): Promise<string> {
  const res = await fetch(`${base}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
    ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
  })
  if (timeoutMs && !res.ok) throw new Error(`/metrics answered ${res.status}`)
  return res.text()
}

/** Whether the service's queue is empty of due and running work (its metrics). */
async function queueIdle(base: string, token: string): Promise<boolean> {
  const text = await metricsText(base, token)
  const running = Number(/^bridge_jobs\{state="running"\} (\d+)/m.exec(text)?.[1] ?? NaN)
  const oldestDue = Number(/^bridge_queue_oldest_due_seconds ([\d.e+-]+)/m.exec(text)?.[1] ?? NaN)
  return running === 0 && oldestDue === 0
}

/** What a `--limits` or `--broadcast` scenario drives: the running service and the two stand-ins. */
interface ScenarioContext {
  base: string
  env: { ADMIN_TOKEN: string }
  twilio: Awaited<ReturnType<typeof startTwilioStandIn>>
  intercom: Awaited<ReturnType<typeof startIntercomStandIn>>
  /** The service's memory, watched since it was ready. */
  memory: ReturnType<typeof watchMemory>
}

/** `--limits`: a backlog of first texts under Intercom's rate limit, a teammate's reply in the middle. */
async function limitsScenario(s: ScenarioContext) {
  const { base, twilio, intercom } = s
  wireWebhooks(twilio, intercom)
  const text = async (from: string, body: string) => {
    const { delivery } = await twilio.receiveText({ from, to: OUR_NUMBER, body, via: base })
    if (delivery?.status !== 200) throw new Error(`webhook answered ${delivery?.status}`)
  }
  // The customer the teammate answers: a conversation before the backlog.
  await text('+14155550000', 'hello')
  while (intercom.conversations.length === 0 || !(await queueIdle(base, s.env.ADMIN_TOKEN))) await sleep(50)
  const conversation = intercom.conversations[0]!
  intercom.rateLimit = RATE_LIMIT
  await sleep(10_500) // a fresh window
  const callsFrom = intercom.requests.length
  const started = performance.now()
  let replyLatency: number | undefined
  let replyPosted: Promise<void> | undefined
  for (let i = 0; i < BACKLOG; i++) {
    await text(`+1415558${String(i).padStart(4, '0')}`, `first ${i}`)
    if (i === Math.floor(BACKLOG / 2)) {
      const from = twilio.requests.length
      const t0 = Date.now()
      replyPosted = (async () => {
        await intercom.replyAsAdmin(conversation.id, { body: '<p>the reply</p>' }, base)
        for (let tries = 0; tries < 60_000 && replyLatency === undefined; tries++) {
          const hit = twilio.requests.slice(from).find((r) => r.method === 'POST' && (r.body as { Body?: string })?.Body === 'the reply')
          if (hit) replyLatency = hit.at - t0
          else await sleep(5)
        }
      })()
    }
  }
  // Drained: every first text is in Intercom (a refused call's job waits for the window, so an idle
  // queue alone is not the end) and nothing is due; at most 30 minutes.
  const opened = () =>
    intercom.requests.slice(callsFrom).filter((r) => r.path === '/conversations' && r.method === 'POST' && r.status === 200).length
  for (let idle = 0; idle < 2 && performance.now() - started < 1_800_000;) {
    idle = opened() >= BACKLOG && (await queueIdle(base, s.env.ADMIN_TOKEN)) ? idle + 1 : 0
    await sleep(500)
  }
  await replyPosted
  const drainSeconds = (performance.now() - started) / 1000
  const calls = intercom.requests.slice(callsFrom).filter((r) => r.status !== 401 && !r.path.startsWith('/uploads/'))
  const refused = calls.filter((r) => r.status === 429).length
  const delivered = opened()
  return {
    rate_limit_per_10s: RATE_LIMIT,
    backlog_texts: BACKLOG,
    delivered_texts: delivered,
    reply_latency_ms: replyLatency ?? null,
    refused_calls_per_delivered_text: round(refused / Math.max(1, delivered), 3),
    refused_calls: refused,
    intercom_calls: calls.length,
    drain_s: round(drainSeconds),
    drain_share_of_limit: round((calls.length - refused) / drainSeconds / (RATE_LIMIT / 10), 3),
    ...s.memory.peaks(),
    node: process.version,
  }
}

/** `--broadcast`: N tagged contacts, one broadcast confirmed, its texts timed at Twilio. */
async function broadcastScenario(s: ScenarioContext) {
  const { base, twilio, intercom } = s
  wireWebhooks(twilio, intercom)
  const admin = (path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${s.env.ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }))
  const contacts = Array.from({ length: RECIPIENTS }, (_, i) =>
    intercom.addContact({ role: 'user', external_id: `bench-${i}`, name: `Customer ${i}`, phone: `+1415556${String(i).padStart(4, '0')}` }),
  )
  const tag = intercom.tagContacts('winter-sale', contacts)
  const fromTwilio = twilio.requests.length
  const created = await admin('/admin/broadcasts', { audience: { kind: 'tag', id: tag.id }, template: 'bench', purpose: 'marketing' })
  if (created.status !== 201) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.json)}`)
  const id = created.json.id as number
  const t0 = performance.now()
  for (;;) {
    const b = await admin(`/admin/broadcasts/${id}`)
    if ((b.json as { state?: string }).state !== 'expanding') break
    await sleep(100)
  }
  const expandSeconds = (performance.now() - t0) / 1000
  const confirmed = await admin(`/admin/broadcasts/${id}/confirm`, {})
  if (confirmed.status !== 200) throw new Error(`confirm answered ${confirmed.status}: ${JSON.stringify(confirmed.json)}`)
  const sentAt = () =>
    twilio.requests
      .slice(fromTwilio)
      .filter(
        (r) =>
          r.method === 'POST' && r.path.endsWith('/Messages.json') && String((r.body as { Body?: string })?.Body).includes('winter sale'),
      )
      .map((r) => r.at)
  const deadline = performance.now() + ((RECIPIENTS / SENDER_RATE) * 3 + 120) * 1000
  while (sentAt().length < RECIPIENTS && performance.now() < deadline) {
    await sleep(200)
  }
  const times = sentAt().sort((a, b) => a - b)
  const spanSeconds = times.length > 1 ? (times.at(-1)! - times[0]!) / 1000 : NaN
  const achieved = times.length > 1 ? (times.length - 1) / spanSeconds : NaN
  return {
    recipients: RECIPIENTS,
    texts_sent: times.length,
    configured_rate_per_s: SENDER_RATE,
    achieved_rate_per_s: round(achieved, 2),
    achieved_share_of_configured: round(achieved / SENDER_RATE, 3),
    expand_s: round(expandSeconds),
    send_s: round(spanSeconds),
    ...s.memory.peaks(),
    node: process.version,
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
