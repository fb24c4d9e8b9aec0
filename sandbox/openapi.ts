import { readFileSync } from 'node:fs'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'

/** Twilio's, and Intercom's as described for 2.14 (`intercom`) and 2.16. */
export type Api = 'intercom' | 'intercom-2.16' | 'twilio'

interface Operation {
  method: string
  path: string
  contentType: string | null
  bodyRequired: boolean
  body: object | null
  query: object | null
}

const fixture = JSON.parse(readFileSync(new URL('./openapi-requests.json', import.meta.url), 'utf8')) as Record<Api, Operation[]>

// Twilio's form values arrive as strings ("true", "42") and repeated keys as arrays: coerce as Twilio does.
const ajvJson = addFormats.default(new Ajv({ allErrors: true, strict: false }))
const ajvForm = addFormats.default(new Ajv({ allErrors: true, strict: false, coerceTypes: 'array' }))

interface Compiled {
  op: Operation
  pattern: RegExp
  body: ValidateFunction | null
  query: ValidateFunction | null
}

function compile(api: Api): Compiled[] {
  const ajv = api === 'twilio' ? ajvForm : ajvJson
  return fixture[api].map((op) => ({
    op,
    pattern: new RegExp(`^${op.path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    body: op.body ? ajv.compile(op.body) : null,
    // A query's values are strings on the wire ("per_page=50"): read as the form's are, coerced.
    query: op.query ? ajvForm.compile(op.query) : null,
  }))
}

const compiled = { intercom: compile('intercom'), 'intercom-2.16': compile('intercom-2.16'), twilio: compile('twilio') }

export type Validation = { ok: true; operation: string } | { ok: false; status: 400 | 404 | 405; errors: string[] }

/**
 * Checks a request against the official reference: the operation must exist, and its body and query
 * must match the schemas extracted from the OpenAPI description (scripts/openapi-extract.mjs).
 */
export function validateApiRequest(api: Api, method: string, path: string, body: unknown, query: Record<string, unknown> = {}): Validation {
  const candidates = compiled[api].filter((c) => c.pattern.test(path))
  if (candidates.length === 0) return { ok: false, status: 404, errors: [`${path} is not an endpoint the bridge may call`] }
  const match = candidates.find((c) => c.op.method === method.toUpperCase())
  if (!match) return { ok: false, status: 405, errors: [`${method} ${path} is not in the reference`] }
  const errors: string[] = []
  if (match.body) {
    if (body === undefined || body === null) {
      if (match.op.bodyRequired) errors.push('a request body is required')
    } else if (!match.body(body)) {
      errors.push(...(match.body.errors ?? []).map((e) => `body${e.instancePath} ${e.message}`))
    }
  }
  if (match.query && !match.query(query)) {
    errors.push(...(match.query.errors ?? []).map((e) => `query${e.instancePath} ${e.message}`))
  }
  return errors.length ? { ok: false, status: 400, errors } : { ok: true, operation: `${match.op.method} ${match.op.path}` }
}
