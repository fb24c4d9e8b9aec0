/**
 * An error with a stable code and a sentence a person can act on. A route throws it; the app's one
 * error handler answers `statusCode` with `{ error: { code, message, ...fields } }`.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode = 500,
    /** More for the caller to read (the field that was wrong). */
    readonly fields?: Record<string, string>,
  ) {
    super(message)
    this.name = 'AppError'
  }
}

/** Thrown by a job to be tried again after a specific delay (e.g. a rate-limit reset). */
export class RetryLaterError extends Error {
  constructor(
    readonly delayMs: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'RetryLaterError'
  }
}

/** Thrown by a job that can never succeed, so it goes straight to the dead jobs. */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PermanentError'
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

/**
 * What the job layer should do after an API call failed: `retry` with backoff (no answer, a timeout,
 * a 5xx), `wait` the time the API asked for (a 429), or `give_up` (the API refused: trying again
 * would be refused again). `merged`: Intercom merged the contact into another (`mergedInto`); the
 * domain follows it, and to the job layer it is a refusal like `give_up`.
 */
export type UpstreamOutcome = 'retry' | 'wait' | 'give_up' | 'merged'

/** What an API said about a failed call, as far as the bridge reads it. */
export interface UpstreamDetails {
  status?: number | undefined
  code?: number | string | undefined
  waitMs?: number | undefined
  /** Nothing answered: why (Node's code) and the API's configured host:port. */
  unreachable?: { code: string; host: string } | undefined
  /** The contact Intercom merged the one asked for into (outcome `merged`). */
  mergedInto?: string | undefined
}

/**
 * A failed call to Twilio or Intercom, classified by the adapter that made it (server/clients/):
 * what was being done, the API's status and error code, and the outcome for the job layer.
 */
export class UpstreamError extends Error {
  readonly details: UpstreamDetails

  /** `details` may carry the error that caused this one as `cause`; it becomes the error's own `cause`. */
  constructor(
    readonly api: 'twilio' | 'intercom',
    readonly outcome: UpstreamOutcome,
    message: string,
    { cause, ...details }: UpstreamDetails & { cause?: unknown } = {},
  ) {
    super(message, cause === undefined ? undefined : { cause })
    this.details = details
    this.name = 'UpstreamError'
  }

  get status(): number | undefined {
    return this.details.status
  }

  get notFound(): boolean {
    return this.details.status === 404
  }

  /**
   * The contact named may have been merged into another: Intercom said so (410 with `Link`, 2.16),
   * or answered 404 (as 2.14 answers for a merged id, and for one deleted).
   */
  get contactMissing(): boolean {
    return this.outcome === 'merged' || this.notFound
  }
}
