import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'

/**
 * Request validation against the official API descriptions, through test/fixtures/api-schemas.json
 * (written by scripts/extract-api-schemas.mjs from Intercom's and Twilio's OpenAPI files).
 */

export type Api = 'intercom' | 'twilio'

interface OperationSchemas {
  operationId: string | null
  contentType: string | null
  bodyRequired: boolean
  body: object | null
  path: object | null
  query: object | null
}

interface Fixture {
  intercom: { versions: string[]; operations: Record<string, OperationSchemas> }
  twilio: { operations: Record<string, OperationSchemas> }
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/api-schemas.json', import.meta.url), 'utf8')) as Fixture

/** The `Intercom-Version` values the 2.14 description lists. */
export const intercomVersions: readonly string[] = fixture.intercom.versions

export interface ApiIssue {
  /** Where the problem is. */
  in: 'path' | 'query' | 'body'
  /** Dotted path of the offending field ("from.id", "query.value[0].field"); "" for the whole body. */
  field: string
  /** The JSON Schema keyword that failed: required, type, enum, oneOf, format... */
  keyword: string
  message: string
}

export type ApiValidation = { ok: true } | { ok: false; errors: string[]; issues: ApiIssue[] }

export interface RequestParams {
  path?: Record<string, string>
  query?: Record<string, string | string[]>
}

// Both APIs are strict about types in JSON, but path, query and Twilio's form bodies arrive as strings
// (repeated keys as arrays, e.g. MediaUrl): those are coerced the way the servers read them.
const jsonAjv = newAjv(false)
const textAjv = newAjv('array')

function newAjv(coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, coerceTypes })
  addFormats.default(ajv)
  // Twilio's own formats. Phone numbers are left to the stand-in, which answers Twilio's error codes
  // (21211 and friends) instead of a schema message; the rest only appear in responses.
  for (const name of ['phone-number', 'date-time-rfc-2822', 'currency', 'uri-map', 'phone-number-capabilities']) ajv.addFormat(name, true)
  ajv.addFormat('http-method', /^[A-Z]+$/)
  return ajv
}

interface Compiled {
  template: string
  method: string
  pattern: RegExp
  schemas: OperationSchemas
  body?: ValidateFunction
  path?: ValidateFunction
  query?: ValidateFunction
}

/** `/contacts/{id}` and `/contacts/{contact_id}` name the same operation. */
const normalise = (template: string) => template.replace(/\{[^}]+\}/g, '{}')

function compileApi(api: Api): Map<string, Compiled> {
  const operations = new Map<string, Compiled>()
  for (const [key, schemas] of Object.entries(fixture[api].operations)) {
    const [method = '', template = ''] = key.split(' ')
    const pattern = new RegExp(
      `^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_m, name: string) => `(?<${name}>[^/]+)`)}$`,
    )
    operations.set(`${method} ${normalise(template)}`, { template, method, pattern, schemas })
  }
  return operations
}

const compiled: Record<Api, Map<string, Compiled>> = { intercom: compileApi('intercom'), twilio: compileApi('twilio') }

function operation(api: Api, method: string, template: string): Compiled {
  const op = compiled[api].get(`${method.toUpperCase()} ${normalise(template)}`)
  if (!op) throw new Error(`${method} ${template} is not among the ${api} operations in test/fixtures/api-schemas.json`)
  return op
}

/** Finds the operation a concrete request path belongs to, with its path parameters. */
export function matchApiOperation(api: Api, method: string, path: string): { template: string; params: Record<string, string> } | null {
  for (const op of compiled[api].values()) {
    if (op.method !== method.toUpperCase()) continue
    const m = op.pattern.exec(path)
    if (!m) continue
    const params = Object.fromEntries(Object.entries(m.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]))
    return { template: op.template, params }
  }
  return null
}

/** The content type the spec gives an operation's body, or null when it takes none. */
export function apiContentType(api: Api, method: string, template: string): string | null {
  return operation(api, method, template).schemas.contentType
}

/**
 * Checks one request against the spec: the body (JSON for Intercom, a parsed form for Twilio) and,
 * when given, the path and query parameters. An absent body is checked as an empty one, so missing
 * required fields are reported by name.
 */
export function validateApiRequest(api: Api, method: string, pathTemplate: string, body: unknown, params: RequestParams = {}): ApiValidation {
  const op = operation(api, method, pathTemplate)
  const issues: ApiIssue[] = []
  if (op.schemas.path && params.path) {
    op.path ??= textAjv.compile(op.schemas.path)
    issues.push(...check(op.path, structuredClone(params.path), 'path'))
  }
  if (op.schemas.query) {
    op.query ??= textAjv.compile(op.schemas.query)
    issues.push(...check(op.query, structuredClone(params.query ?? {}), 'query'))
  }
  if (op.schemas.body) {
    op.body ??= (api === 'twilio' ? textAjv : jsonAjv).compile(op.schemas.body)
    const data = body === undefined || body === null ? {} : body
    issues.push(...check(op.body, api === 'twilio' ? structuredClone(data) : data, 'body'))
  }
  return issues.length ? { ok: false, errors: issues.map((i) => `${i.in}: ${i.message}`), issues } : { ok: true }
}

function check(validate: ValidateFunction, data: unknown, where: ApiIssue['in']): ApiIssue[] {
  if (validate(data)) return []
  return describe(relevant(validate.errors ?? []), where)
}

/**
 * With alternatives (oneOf/anyOf) ajv reports the failures of every branch. The useful ones are those
 * of the branch the request came closest to; if it matched several branches, that is the problem.
 */
function relevant(errors: ErrorObject[]): ErrorObject[] {
  const ambiguous = errors.filter((e) => e.keyword === 'oneOf' && Array.isArray((e.params as { passingSchemas?: unknown }).passingSchemas))
  if (ambiguous.length) return ambiguous
  const leaves = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf')
  if (leaves.length === 0) return errors
  const groups = new Map<string, ErrorObject[]>()
  for (const e of leaves) {
    // Inside a recursive definition ajv restarts the schema path, so those errors count as unconditional.
    const branch = /^(.*\/(?:oneOf|anyOf)\/\d+)/.exec(e.schemaPath)?.[1] ?? ''
    groups.set(branch, [...(groups.get(branch) ?? []), e])
  }
  const unconditional = groups.get('') ?? []
  groups.delete('')
  const branches = [...groups.values()]
  if (branches.length === 0) return unconditional
  const fewest = Math.min(...branches.map((b) => b.length))
  const closest = branches.filter((b) => b.length === fewest)
  // Several alternatives that each lack one field read as "one of these fields is required".
  if (fewest === 1 && closest.every((b) => b[0]!.keyword === 'required')) return [...unconditional, ...closest.flat()]
  return [...unconditional, ...closest[0]!]
}

function describe(errors: ErrorObject[], where: ApiIssue['in']): ApiIssue[] {
  const missing = errors.filter((e) => e.keyword === 'required')
  const others = errors.filter((e) => e.keyword !== 'required')
  const issues: ApiIssue[] = []
  // Missing fields of several alternatives at the same place are one issue: "one of a, b is required".
  const byParent = new Map<string, string[]>()
  for (const e of missing) {
    const names = byParent.get(e.instancePath) ?? []
    const name = (e.params as { missingProperty: string }).missingProperty
    if (!names.includes(name)) names.push(name)
    byParent.set(e.instancePath, names)
  }
  for (const [parent, names] of byParent) {
    const fields = names.map((n) => join(field(parent), n))
    issues.push({
      in: where,
      field: fields[0]!,
      keyword: 'required',
      message: fields.length === 1 ? `${fields[0]} is required` : `one of ${fields.join(', ')} is required`,
    })
  }
  for (const e of others) {
    const name = field(e.instancePath)
    const label = name || where
    let message = `${label} ${e.message ?? 'is invalid'}`
    if (e.keyword === 'enum') {
      message = `${label} must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}`
    } else if (e.keyword === 'oneOf') {
      const passing = (e.params as { passingSchemas: number[] }).passingSchemas
      const branches = Array.isArray(e.schema) ? (e.schema as Array<{ title?: string }>) : []
      const names = passing.map((i) => branches[i]?.title ?? `alternative ${i + 1}`)
      message = `${label} matches more than one of the accepted shapes (${names.join(', ')}); it must match exactly one`
    } else if (e.keyword === 'additionalProperties') {
      message = `${join(name, (e.params as { additionalProperty: string }).additionalProperty)} is not allowed`
    }
    if (!issues.some((i) => i.message === message)) issues.push({ in: where, field: name, keyword: e.keyword, message })
  }
  return issues
}

/** JSON pointer ("/query/value/0/field") -> dotted field name ("query.value[0].field"). */
function field(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : join(acc, part)), '')
}

const join = (parent: string, name: string) => (parent ? `${parent}.${name}` : name)
