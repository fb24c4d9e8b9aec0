import type { FastifyInstance } from 'fastify'

/**
 * Intercom checks a webhook URL with a HEAD request when it is saved, and people open the URLs they
 * paste in a browser: every URL the bridge asks to be pasted answers GET (and so HEAD) with 200 and
 * a sentence, and does nothing else.
 */
export function answersProbes(app: FastifyInstance, path: string, surface: string): void {
  app.get(path, { logLevel: 'warn' }, async () => ({ ok: true, surface, message: `This URL takes signed POST requests (${surface}).` }))
}
