import { z } from 'zod'

/** A setting written as JSON (SMS_TEMPLATES, SENDERS): parsed, or one issue showing the JSON expected. */
export function jsonSetting(example: string) {
  return z.string().transform((v, ctx) => {
    try {
      return JSON.parse(v) as unknown
    } catch {
      ctx.addIssue({ code: 'custom', message: `expected JSON such as ${example}` })
      return z.NEVER
    }
  })
}
