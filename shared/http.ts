import type { FastifyInstance } from 'fastify'
import type { z } from 'zod'
import { AppError } from './errors.js'

// What every HTTP surface of the service shares: the Fastify routes in server/ and the Canvas Kit
// routes in canvas/.

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer
  }
}

/**
 * In the calling plugin's scope, parses JSON bodies and keeps the raw bytes beside them: Intercom signs
 * the bytes it sent, and a re-serialised body would not match.
 */
export function keepRawJson(app: FastifyInstance, bodyLimit = 1024 * 1024): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (req, body, done) => {
    req.rawBody = body as Buffer
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')))
    } catch {
      done(Object.assign(new Error('The body is not valid JSON.'), { statusCode: 400, code: 'invalid_json' }), undefined)
    }
  })
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
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, code: string, options: { prefix?: string; withField?: boolean } = {}): z.output<S> {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const field = `${options.prefix ?? ''}${issue.path.map(String).join('.')}` || 'body'
  throw new AppError(code, `${field}: ${issue.message}`, 400, options.withField ? { field } : undefined)
}
