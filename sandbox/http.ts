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
  /** Never answer (until the stand-in closes): for client timeouts. */
  hang?: boolean
  /** Serve the request (the message is created), then answer with the fault: "accepted, but we timed out". */
  afterAccept?: boolean
  match?: { method?: string; path?: RegExp }
}

export class FaultPlan {
  private faults: Array<Fault & { left: number }> = []

  add(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? (fault.untilMs === undefined ? 1 : Infinity) })
  }

  take(method: string, path: string): Fault | undefined {
    const now = Date.now()
    const fault = this.faults.find(
      (f) =>
        f.left > 0 &&
        (f.untilMs === undefined || now < f.untilMs) &&
        (!f.match?.method || f.match.method === method) && (!f.match?.path || f.match.path.test(path)),
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
