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
