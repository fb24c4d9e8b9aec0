/**
 * An error with a stable code and a sentence a person can act on. `status` is the HTTP status a
 * route answers with when the error reaches it.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 500,
    options?: { cause?: unknown },
  ) {
    super(message, options)
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
