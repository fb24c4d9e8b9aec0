// Derives test/fixtures/api-schemas.json from the official OpenAPI descriptions of Intercom (2.14) and
// Twilio (2010-04-01): for each endpoint the bridge calls, the request body schema, the path and query
// parameters and the content type, as plain JSON Schema. The stand-ins in test/support validate every
// request against that fixture, so tests need neither the specs nor the network.
//
// Usage: node scripts/extract-api-schemas.mjs [SPECS_DIR]   (default: ../shared/specs beside the project)
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'

const specsDir = process.argv[2] ?? join(import.meta.dirname, '..', '..', 'shared', 'specs')
const outFile = join(import.meta.dirname, '..', 'test', 'fixtures', 'api-schemas.json')

const OPERATIONS = {
  intercom: [
    ['GET', '/me'],
    ['GET', '/admins'],
    ['POST', '/contacts'],
    ['POST', '/contacts/search'],
    ['GET', '/contacts/{contact_id}'],
    ['PUT', '/contacts/{contact_id}'],
    ['POST', '/conversations'],
    ['GET', '/conversations/{conversation_id}'],
    ['POST', '/conversations/{conversation_id}/reply'],
    ['POST', '/conversations/{conversation_id}/tags'],
    ['POST', '/tags'],
    ['GET', '/tags'],
    ['POST', '/data_attributes'],
    ['GET', '/data_attributes'],
  ],
  twilio: [
    ['POST', '/2010-04-01/Accounts/{AccountSid}/Messages.json'],
    ['GET', '/2010-04-01/Accounts/{AccountSid}/Messages.json'],
    ['GET', '/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json'],
    ['GET', '/2010-04-01/Accounts/{Sid}.json'],
    ['GET', '/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json'],
    ['POST', '/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json'],
    ['GET', '/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json'],
  ],
}

// Documentation only: dropping it keeps the fixture small and changes no validation outcome.
const DROPPED = new Set(['description', 'summary', 'example', 'examples', 'externalDocs', 'deprecated', 'default', 'title', 'discriminator', 'xml', 'readOnly', 'writeOnly'])

const notes = []

/** The component names that take part in a reference cycle: those stay as `$ref`s into `$defs`. */
function findRecursiveRefs(doc) {
  const state = new Map() // ref -> 'open' while on the DFS stack, 'done' after
  const recursive = new Set()
  const walk = (node) => {
    if (Array.isArray(node)) return node.forEach(walk)
    if (node === null || typeof node !== 'object') return
    if (typeof node.$ref === 'string') {
      const seen = state.get(node.$ref)
      if (seen === 'open') recursive.add(node.$ref)
      if (seen) return
      state.set(node.$ref, 'open')
      walk(resolvePointer(doc, node.$ref))
      state.set(node.$ref, 'done')
      return
    }
    Object.values(node).forEach(walk)
  }
  walk(doc.paths)
  return recursive
}

function resolvePointer(doc, ref) {
  if (!ref.startsWith('#/')) throw new Error(`external $ref not supported: ${ref}`)
  return ref
    .slice(2)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((node, key) => {
      if (node?.[key] === undefined) throw new Error(`dangling $ref ${ref}`)
      return node[key]
    }, doc)
}

const refName = (ref) => ref.split('/').pop()

/**
 * OpenAPI 3.0 schema -> JSON Schema (draft-07, as ajv reads it): $refs inlined (cycles become
 * `$defs`), `nullable` turned into a null type, documentation dropped. `defs` collects the cycle
 * members the schema being converted needs.
 */
function convert(node, ctx, defs, where) {
  if (Array.isArray(node)) return node.map((item) => convert(item, ctx, defs, where))
  if (node === null || typeof node !== 'object') return node
  if (typeof node.$ref === 'string') {
    const name = refName(node.$ref)
    if (ctx.recursive.has(node.$ref)) {
      if (!defs.has(name)) {
        defs.set(name, null) // claimed before converting, so the cycle ends here
        defs.set(name, convert(resolvePointer(ctx.doc, node.$ref), ctx, defs, name))
      }
      return { $ref: `#/$defs/${name}` }
    }
    return convert(resolvePointer(ctx.doc, node.$ref), ctx, defs, name)
  }
  const out = {}
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED.has(key) || key.startsWith('x-') || key === 'nullable') continue
    if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v, ctx, defs, `${where}.${k}`)]))
    } else if (key === 'oneOf' || key === 'anyOf') {
      // Each alternative keeps a name (its component, or the spec's title) so a rejection can say
      // which alternatives a body matched.
      out[key] = value.map((branch, i) => {
        const converted = convert(branch, ctx, defs, `${where}.${key}[${i}]`)
        const label = branch.$ref ? refName(branch.$ref) : branch.title
        return label ? { title: label, ...converted } : converted
      })
    } else {
      out[key] = convert(value, ctx, defs, `${where}.${key}`)
    }
  }
  if (out.format === 'uuid' && out.minLength === 24 && out.maxLength === 24) {
    // Intercom marks its 24-hex-digit object ids as "uuid", which its own examples
    // ("6762f0dd1bb69f9f2193bb83") are not: the lengths are the real constraint.
    delete out.format
    notes.push(`${where}: dropped format "uuid" from a 24-character id`)
  }
  if (node.nullable === true) return nullable(out)
  return out
}

/** OpenAPI 3.0.3: `nullable: true` adds null to the allowed types; an enum must list null itself. */
function nullable(schema) {
  if (typeof schema.type === 'string') return { ...schema, type: [schema.type, 'null'] }
  if (Array.isArray(schema.type)) return schema.type.includes('null') ? schema : { ...schema, type: [...schema.type, 'null'] }
  return { anyOf: [schema, { type: 'null' }] }
}

function paramsSchema(params, where, ctx) {
  const list = params.filter((p) => p.in === where)
  if (list.length === 0) return null
  const defs = new Map()
  const schema = {
    type: 'object',
    properties: Object.fromEntries(list.map((p) => [p.name, convert(p.schema ?? {}, ctx, defs, `${where}.${p.name}`)])),
    required: list.filter((p) => p.required || where === 'path').map((p) => p.name),
  }
  return withDefs(schema, defs)
}

function withDefs(schema, defs) {
  return defs.size ? { ...schema, $defs: Object.fromEntries(defs) } : schema
}

function extract(doc, ctx, method, path) {
  const item = doc.paths[path]
  const op = item?.[method.toLowerCase()]
  if (!op) throw new Error(`${method} ${path} is not in ${doc.info.title}`)
  const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p) => (p.$ref ? resolvePointer(doc, p.$ref) : p))
  const requestBody = op.requestBody?.$ref ? resolvePointer(doc, op.requestBody.$ref) : op.requestBody
  const [contentType, media] = requestBody ? Object.entries(requestBody.content)[0] : [null, null]
  const defs = new Map()
  const body = media?.schema ? withDefs(convert(media.schema, ctx, defs, `${method} ${path}`), defs) : null
  return {
    operationId: op.operationId ?? null,
    contentType,
    bodyRequired: Boolean(requestBody?.required),
    body,
    path: paramsSchema(params, 'path', ctx),
    query: paramsSchema(params, 'query', ctx),
  }
}

function extractApi(doc, operations) {
  const ctx = { doc, recursive: findRecursiveRefs(doc) }
  return Object.fromEntries(operations.map(([method, path]) => [`${method} ${path}`, extract(doc, ctx, method, path)]))
}

const intercomDoc = parse(readFileSync(join(specsDir, 'intercom-api-2.14.yaml'), 'utf8'))
const twilioDoc = JSON.parse(readFileSync(join(specsDir, 'twilio_api_v2010.json'), 'utf8'))

const fixture = {
  generatedBy: 'scripts/extract-api-schemas.mjs',
  sources: {
    intercom: `intercom-api-2.14.yaml (${intercomDoc.info.title} ${intercomDoc.info.version})`,
    twilio: `twilio_api_v2010.json (${twilioDoc.info.title} ${twilioDoc.info.version})`,
  },
  intercom: {
    // The values the spec allows for the Intercom-Version header.
    versions: intercomDoc.components.schemas.intercom_version.enum,
    operations: extractApi(intercomDoc, OPERATIONS.intercom),
  },
  twilio: {
    operations: extractApi(twilioDoc, OPERATIONS.twilio),
  },
}

writeFileSync(outFile, `${JSON.stringify(fixture, null, 1)}\n`)
for (const note of notes) console.log(`note: ${note}`)
console.log(`wrote ${outFile}: ${OPERATIONS.intercom.length} Intercom and ${OPERATIONS.twilio.length} Twilio operations`)
