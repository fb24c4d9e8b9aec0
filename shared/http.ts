import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { z } from 'zod'
import { AppError } from './errors.js'

// What every HTTP surface of the service shares: the Fastify routes in server/ and the Canvas Kit
// routes in canvas/.

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer
  }
}

/** How a JSON surface is signed: the header, and what checks it. */
export interface SignedJson {
  /** The header the signature travels in (lower case). */
  header: string
  /** The largest body the surface takes: sized to its real payloads. */
  bodyLimit: number
  /** Whether `signature` signs these bytes. */
  verify: (raw: Buffer, signature: string) => boolean
  /** Notes the refusal and throws the AppError the surface answers with. */
  refuse: (req: FastifyRequest, reason: 'missing_header' | 'mismatch') => never
}

/**
 * In the calling plugin's scope, JSON bodies are signed: a request without the header is refused
 * before its body is read (onRequest), the signature is checked over the raw bytes before they are
 * parsed, and the raw bytes are kept (Intercom signs the bytes it sent; a re-serialised body would
 * not match). Returns the hooks each signed route takes; `rawBody` is set only on a verified body.
 */
export function signedJson(
  app: FastifyInstance,
  s: SignedJson,
): { onRequest: (req: FastifyRequest) => Promise<void>; preValidation: (req: FastifyRequest) => Promise<void> } {
  const given = (req: FastifyRequest) => {
    const value = req.headers[s.header]
    return typeof value === 'string' ? value : ''
  }
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: s.bodyLimit }, (req, body, done) => {
    const raw = body as Buffer
    try {
      if (!s.verify(raw, given(req))) s.refuse(req, 'mismatch')
    } catch (err) {
      return done(err as Error, undefined)
    }
    req.rawBody = raw
    try {
      done(null, JSON.parse(raw.toString('utf8')))
    } catch {
      done(Object.assign(new Error('The body is not valid JSON.'), { statusCode: 400, code: 'invalid_json' }), undefined)
    }
  })
  return {
    onRequest: async (req) => {
      if (given(req) === '') s.refuse(req, 'missing_header')
    },
    // A POST without a body reaches no parser: nothing was verified.
    preValidation: async (req) => {
      if (!req.rawBody) s.refuse(req, 'mismatch')
    },
  }
}

/**
 * Intercom checks a webhook URL with a HEAD request when it is saved, and people open the URLs they
 * paste in a browser: every URL the bridge asks to be pasted answers GET (and so HEAD) with 200 and
 * a sentence, and does nothing else.
 */
export function answersProbes(app: FastifyInstance, path: string, surface: string): void {
  app.get(path, { logLevel: 'warn' }, async () => ({ ok: true, surface, message: `This URL takes signed POST requests (${surface}).` }))
}

/**
 * Validates a request body with the route's schema: the parsed value, or a 400 naming the first bad
 * field (`code`, and `field` when `withField`), answered by the app's error handler.
 */
export function parseBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
  code: string,
  options: { prefix?: string; withField?: boolean } = {},
): z.output<S> {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const field = `${options.prefix ?? ''}${issue.path.map(String).join('.')}` || 'body'
  throw new AppError(code, `${field}: ${issue.message}`, 400, options.withField ? { field } : undefined)
}
