// Extracts, from the official OpenAPI descriptions of Twilio and Intercom, the request schemas of the
// endpoints the bridge calls, into sandbox/openapi-requests.json. The loopback stand-ins
// validate every request against it, so tests need neither the specs nor the network.
//
// Usage: node scripts/openapi-extract.mjs [SPECS_DIR]   (default: ../shared/specs)
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'

const specs = process.argv[2] ?? join(import.meta.dirname, '..', '..', 'shared', 'specs')
const out = join(import.meta.dirname, '..', 'sandbox', 'openapi-requests.json')

const OPERATIONS = {
  intercom: [
    ['get', '/me'],
    ['get', '/admins'],
    ['post', '/contacts'],
    ['post', '/contacts/search'],
    ['post', '/contacts/merge'],
    ['get', '/contacts/{contact_id}'],
    ['put', '/contacts/{contact_id}'],
    ['post', '/conversations'],
    ['post', '/conversations/search'],
    ['get', '/conversations/{conversation_id}'],
    ['put', '/conversations/{conversation_id}'],
    ['post', '/conversations/{conversation_id}/reply'],
    ['post', '/conversations/{conversation_id}/tags'],
    ['post', '/conversations/{conversation_id}/parts'],
    ['get', '/teams'],
    ['get', '/tags'],
    ['get', '/segments'],
    ['post', '/tags'],
    ['get', '/data_attributes'],
    ['post', '/data_attributes'],
    ['get', '/subscription_types'],
    ['get', '/contacts/{contact_id}/subscriptions'],
    ['post', '/contacts/{contact_id}/subscriptions'],
    ['delete', '/contacts/{contact_id}/subscriptions/{subscription_id}'],
  ],
  // Endpoints 2.16 added (2.14 has none of them): checked against 2.16's description only.
  'intercom-2.16': [
    ['get', '/admins/{admin_id}'],
    ['get', '/macros'],
    ['get', '/macros/{id}'],
    ['get', '/office_hours_schedules'],
    ['get', '/data_connectors'],
    ['post', '/data_connectors'],
    ['get', '/data_connectors/{id}'],
    ['patch', '/data_connectors/{id}'],
    ['get', '/data_connectors/{data_connector_id}/execution_results'],
  ],
  twilio: [
    ['get', '/2010-04-01/Accounts/{Sid}.json'],
    ['get', '/2010-04-01/Accounts/{AccountSid}/Messages.json'],
    ['post', '/2010-04-01/Accounts/{AccountSid}/Messages.json'],
    ['get', '/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json'],
    ['post', '/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json'],
    ['get', '/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json'],
    ['get', '/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json'],
    ['post', '/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json'],
  ],
}

const DROP = new Set(['description', 'example', 'examples', 'title', 'x-twilio', 'externalDocs', 'deprecated', 'readOnly', 'writeOnly'])

/** Resolves $refs and turns OpenAPI 3.0 schema dialect into plain JSON Schema. */
function convert(node, doc, seen = new Set()) {
  if (Array.isArray(node)) return node.map((n) => convert(n, doc, seen))
  if (node === null || typeof node !== 'object') return node
  if (node.$ref) {
    if (seen.has(node.$ref)) return {}
    const target = node.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce((o, k) => o[k], doc)
    return convert(target, doc, new Set([...seen, node.$ref]))
  }
  const out = {}
  for (const [key, value] of Object.entries(node)) {
    if (DROP.has(key)) continue
    if (key === 'nullable') continue
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v, doc, seen)]))
      continue
    }
    // Several of Intercom's oneOf lists have overlapping branches (an array of filters matches both
    // "array of anything" and "array of filters"), which the real API accepts: read them as anyOf.
    out[key === 'oneOf' ? 'anyOf' : key] = convert(value, doc, seen)
  }
  if (node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null']
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null]
  }
  // Twilio-specific string formats ("phone-number", "date-time-rfc-2822"...) are not JSON Schema formats.
  // Intercom marks its 24-hex-digit ids as "uuid", which they are not; its lengths are kept.
  if (out.format && !['uri', 'date-time', 'date', 'email'].includes(out.format)) delete out.format
  return out
}

function extract(doc, method, path) {
  const op = doc.paths[path]?.[method]
  if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the spec`)
  const params = [...(doc.paths[path].parameters ?? []), ...(op.parameters ?? [])].map((p) => convert(p, doc))
  const query = params.filter((p) => p.in === 'query')
  const content = op.requestBody ? convert(op.requestBody, doc).content : undefined
  const [contentType, media] = content ? Object.entries(content)[0] : [null, null]
  return {
    method: method.toUpperCase(),
    path,
    contentType,
    bodyRequired: Boolean(op.requestBody?.required),
    body: media?.schema ?? null,
    query: query.length
      ? {
          type: 'object',
          properties: Object.fromEntries(query.map((p) => [p.name, p.schema ?? {}])),
          required: query.filter((p) => p.required).map((p) => p.name),
        }
      : null,
  }
}

// Two Intercom versions: 2.14 (what intercom-client 7 defaults to) and 2.16 (what the bridge speaks);
// the stand-in checks each request against the description of the version its Intercom-Version names.
const intercom = parse(readFileSync(join(specs, 'intercom-api-2.14.yaml'), 'utf8'))
const intercom216 = parse(readFileSync(join(specs, 'intercom-api-2.16.yaml'), 'utf8'))
const twilio = JSON.parse(readFileSync(join(specs, 'twilio_api_v2010.json'), 'utf8'))
const result = {
  source: {
    intercom: `${intercom.info.title} ${intercom.info.version}`,
    'intercom-2.16': `${intercom216.info.title} ${intercom216.info.version}`,
    twilio: `${twilio.info.title} ${twilio.info.version}`,
  },
  intercom: OPERATIONS.intercom.map(([m, p]) => extract(intercom, m, p)),
  'intercom-2.16': [...OPERATIONS.intercom, ...OPERATIONS['intercom-2.16']].map(([m, p]) => extract(intercom216, m, p)),
  twilio: OPERATIONS.twilio.map(([m, p]) => extract(twilio, m, p)),
}
writeFileSync(out, `${JSON.stringify(result, null, 1)}\n`)
console.log(`wrote ${out}: ${result.intercom.length} Intercom (2.14 and 2.16) and ${result.twilio.length} Twilio operations`)
