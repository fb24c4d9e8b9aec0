import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'

/** One request a stand-in received, as a test would want to assert on it. */
export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  body: unknown
  headers: IncomingHttpHeaders
  /** What the stand-in answered; -1 when it never answered (a hang). */
  status: number
  at: number
}

export interface Fault {
  /** How many matching requests get this fault (default 1; unlimited when `untilMs` is given). */
  times?: number
  /** A time window instead of a count: every matching request gets the fault until this time (epoch ms). */
  untilMs?: number
  /** Answer with this status (429, 500, 503...) instead of serving the request. */
  status?: number
  headers?: Record<string, string>
  body?: unknown
  /** Wait this long first. */
  delayMs?: number
  /** Hold the request until this settles, then serve it (or apply the rest of the fault): a test opens the gate. */
  gate?: Promise<unknown>
  /** Never answer (until the stand-in closes): for client timeouts. */
  hang?: boolean
  /** Serve the request (the message is created), then answer with the fault: "accepted, but we timed out". */
  afterAccept?: boolean
  match?: { method?: string; path?: RegExp }
}

export class FaultPlan<F extends Fault = Fault> {
  private faults: Array<F & { left: number }> = []

  add(fault: F): void {
    this.faults.push({ ...fault, left: fault.times ?? (fault.untilMs === undefined ? 1 : Infinity) })
  }

  take(method: string, path: string): F | undefined {
    const now = Date.now()
    const fault = this.faults.find(
      (f) =>
        f.left > 0 &&
        (f.untilMs === undefined || now < f.untilMs) &&
        (!f.match?.method || f.match.method === method) &&
        (!f.match?.path || f.match.path.test(path)),
    )
    if (fault) fault.left--
    return fault
  }

  clear(): void {
    this.faults = []
  }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** A webhook a stand-in posted to the bridge, as the real service's delivery log would show it. */
export interface Delivery {
  /** What it was: "sms", "status: delivered", a topic, "canvas: submit". */
  kind: string
  url: string
  /** The answer's status; 0 when the request failed (no answer, refused, timed out). */
  status: number
  at: number
  /** The answer's body (the bridge's TwiML, JSON or canvas), when there was one. */
  response?: string
  /** What was posted, so that it can be sent again, as the real service retries. */
  request: { headers: Record<string, string>; body: string }
}

/**
 * Where a webhook for `url` goes when it passes a load balancer: to `via` (an origin such as one of
 * several machines), same path and query. Signatures stay over `url`, the address configured.
 */
export function through(url: string, via: string | undefined): string {
  if (!via) return url
  const { pathname, search } = new URL(url)
  return new URL(pathname + search, via).href
}

/** Posts a webhook as a real service would (one attempt, 15 s timeout) and logs it in `log`. */
export async function postWebhook(
  log: Delivery[],
  kind: string,
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<Delivery> {
  const delivery: Delivery = { kind, url, status: 0, at: Date.now(), request: { headers, body } }
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) })
    delivery.status = res.status
    delivery.response = await res.text()
  } catch {
    // No answer: the status stays 0, as in Twilio's and Intercom's delivery logs.
  }
  log.push(delivery)
  return delivery
}

/** Sends a logged webhook again, exactly as it was (same headers, same body), optionally `via` another origin. */
export function redeliver(log: Delivery[], delivery: Delivery, via?: string): Promise<Delivery> {
  return postWebhook(log, delivery.kind, through(delivery.url, via), delivery.request.headers, delivery.request.body)
}
