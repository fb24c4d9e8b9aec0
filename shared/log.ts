import pino, { type Logger, type LoggerOptions } from 'pino'

/**
 * Keeps the last four digits of a phone number and hides the rest: enough to tell two customers apart
 * in the logs, not enough to text them. Short codes and alphanumeric senders are not personal.
 */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return ''
  const digits = phone.replace(/\D/g, '')
  if (digits.length <= 6) return phone
  return `${phone.startsWith('+') ? '+' : ''}${'*'.repeat(digits.length - 4)}${digits.slice(-4)}`
}

const PHONE_KEYS = new Set(['phone', 'from', 'to', 'From', 'To', 'twilio_number', 'customer'])
const E164_IN_TEXT = /\+\d{7,15}/g
// In a URL's query string a number may be percent-encoded or written without its +.
const NUMBER_IN_QUERY = /(?:\+|%2B)?\d{7,15}/gi

// Query parameters whose value is a credential, whatever else they hold.
const SECRET_PARAM = /([?&](?:[\w.-]*(?:token|secret|signature|password|passwd|auth|key|code|sig))=)[^&#]*/gi

/** Masks numbers and credentials in the query string of a logged URL (the path is kept as it is). */
export function maskUrl(url: string): string {
  const query = url.indexOf('?')
  if (query < 0) return url
  return (
    url.slice(0, query) +
    url
      .slice(query)
      .replace(SECRET_PARAM, '$1[redacted]')
      .replace(NUMBER_IN_QUERY, (m) => maskPhone(m.replace(/^%2B/i, '+')))
  )
}

/** Masks the phone numbers quoted in a text (an upstream error message, say) as `maskPhone` does. */
export function maskPhonesInText(text: string): string {
  return text.replace(E164_IN_TEXT, (m) => maskPhone(m))
}

/** Masks phone numbers in the string values of a log record, a level or two deep. */
export function maskPhonesIn(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskPhonesInText(value)
  if (depth > 3 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((v) => maskPhonesIn(v, depth + 1))
  // Requests, responses and errors have serializers of their own; only plain records are walked.
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      typeof v !== 'string'
        ? maskPhonesIn(v, depth + 1)
        : PHONE_KEYS.has(k)
          ? maskPhone(v)
          : k === 'url'
            ? maskUrl(v)
            : maskPhonesIn(v, depth + 1)
  }
  return out
}

// Anything that can carry a credential. pino removes these before a line is written.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-twilio-signature"]',
  'req.headers["x-hub-signature"]',
  'req.headers["x-body-signature"]',
  'req.headers["x-bridge-secret"]',
  'req.headers["x-admin-token"]',
  'headers.authorization',
  'headers.Authorization',
  '*.authToken',
  '*.accessToken',
  '*.clientSecret',
  '*.token',
  '*.password',
]

// What an HTTP client's error carries about the exchange (axios, under the twilio SDK): the request
// it made, with the account's credentials in its headers and auth, and the raw response.
const EXCHANGE_KEYS = ['config', 'request', 'response']

/**
 * pino's error serializer, less the HTTP exchange an API client's error drags along (the status it
 * answered is kept). Causes are serialized the same way.
 */
export function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>
  const scrub = (record: Record<string, unknown>, source: unknown, depth: number) => {
    const status = (source as { response?: { status?: unknown } } | null)?.response?.status
    for (const key of EXCHANGE_KEYS) delete record[key]
    if (typeof status === 'number' && record.status === undefined) record.status = status
    const cause = record.cause
    if (depth < 5 && cause && typeof cause === 'object')
      scrub(cause as Record<string, unknown>, (source as { cause?: unknown } | null)?.cause, depth + 1)
  }
  if (out && typeof out === 'object') scrub(out, err, 0)
  // Upstream errors quote the numbers they refused ("The 'To' number +1415... is not valid"): an
  // error is masked like any other record (its prototype keeps maskPhonesIn from walking it).
  const mask = (record: Record<string, unknown>, depth: number) => {
    for (const [key, value] of Object.entries(record)) {
      if (typeof value === 'string') record[key] = PHONE_KEYS.has(key) ? maskPhone(value) : maskPhonesInText(value)
      else if (depth < 5 && value && typeof value === 'object' && !Array.isArray(value)) mask(value as Record<string, unknown>, depth + 1)
    }
  }
  if (out && typeof out === 'object') mask(out, 0)
  return out
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    serializers: { err: serializeError },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { log: (record) => maskPhonesIn(record) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        // The message string itself (the last string argument) gets the same masking.
        const masked = args.map((a) => (typeof a === 'string' ? (maskPhonesIn(a) as string) : a)) as typeof args
        return method.apply(this, masked)
      },
    },
  }
}

type StdoutLog = ReturnType<typeof pino.destination>

let stdout: StdoutLog | undefined

/**
 * Standard output for the service's log lines, one per process. Lines are written as the reader
 * takes them (never blocking the service), and nothing waits on it at exit: sonic-boom's final
 * `flushSync`, which pino runs as the process exits, retries every failed write forever (a broken
 * pipe, EPIPE, as well as a full one, EAGAIN), so a log reader that went away kept a stopped process
 * alive until SIGKILL. Lines still unwritten at exit are dropped instead; `flushStdoutLog` gives them
 * a bounded chance first.
 */
export function stdoutLog(): StdoutLog {
  if (stdout) return stdout
  // minLength 1 writes each line at once, as 0 does, but makes flush() wait for the writes under
  // way (with 0 it answers at once).
  const dest = pino.destination({ dest: 1, sync: false, minLength: 1 })
  dest.flushSync = () => {}
  // pino drops lines after EPIPE only; a socket whose reader went away says ECONNRESET, which was
  // thrown as an uncaught error and stopped the service. Whatever the error, the reader is gone.
  dest.on('error', () => {
    dest.write = () => true
    dest.flush = (cb) => cb?.()
  })
  stdout = dest
  return dest
}

/**
 * Waits up to `ms` for the lines logged so far to reach standard output: true when they did (or
 * nothing logs there), false when the reader took none of them in time.
 */
export function flushStdoutLog(ms: number): Promise<boolean> {
  const dest = stdout
  if (!dest) return Promise.resolve(true)
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    timer.unref()
    try {
      // An error (a write refused: the reader is gone; fsync on a pipe) leaves no write under way either.
      dest.flush(() => {
        clearTimeout(timer)
        resolve(true)
      })
    } catch {
      // Destroyed, or not open yet: nothing more can be written, and nothing is left waiting.
      clearTimeout(timer)
      resolve(true)
    }
  })
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level))
}

export type { Logger }
