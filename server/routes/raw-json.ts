import type { FastifyInstance } from 'fastify'

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
