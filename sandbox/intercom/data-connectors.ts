import { readFileSync } from 'node:fs'

// The stand-in's Data Connectors (2.16: /data_connectors), as the description specifies them: created
// in draft, updated field by field (PATCH; data_inputs and token_ids replaced whole), header values
// answered as "****", execution results filtered by success and time (the last hour by default).
// Seeded with the description's own examples (test/fixtures/real/intercom/api/data-connectors-spec-2.16.json).

type Json = Record<string, unknown>

export interface DataConnector extends Json {
  id: string
  name: string
  state: 'draft' | 'live'
  headers: Array<{ name: string; value: string }>
  updated_at: string
}

export interface Execution extends Json {
  id: string
  data_connector_id: string
  success: boolean
  created_at: string
}

const EXAMPLES = JSON.parse(
  readFileSync(new URL('../../test/fixtures/real/intercom/api/data-connectors-spec-2.16.json', import.meta.url), 'utf8'),
) as { detail: Json; executions: { data: Json[] } }

/** The workspace's connectors and their executions: the description's example connector at first. */
export class DataConnectors {
  readonly connectors: DataConnector[] = [{ ...(EXAMPLES.detail as DataConnector), headers: [] }]
  readonly executions: Execution[] = EXAMPLES.executions.data.map((e) => ({ ...(e as Execution) }))
  private next = 20_000

  /** Intercom runs a connector (a Workflow or Fin calls it): its execution result, as the API lists it. */
  addExecution(e: Pick<Execution, 'data_connector_id' | 'success' | 'created_at'> & Json): Execution {
    const execution: Execution = { type: 'data_connector.execution', id: String(this.next++), ...e }
    this.executions.push(execution)
    return execution
  }

  /** The answer to one /data_connectors request, or null when the path is not theirs. */
  handle(method: string, path: string, body: Json | undefined, query: Record<string, string>): { status: number; json: Json } | null {
    if (!path.startsWith('/data_connectors')) return null
    const m = /^\/data_connectors(?:\/([^/]+)(\/execution_results)?)?$/.exec(path)
    if (!m) return null
    if (!m[1]) return method === 'GET' ? this.list(query) : this.create(body ?? {})
    const connector = this.connectors.find((c) => c.id === m[1])
    if (!connector) return notFound()
    if (m[2]) return this.results(connector, query)
    return method === 'GET' ? { status: 200, json: detail(connector) } : this.update(connector, body ?? {})
  }

  private list(query: Record<string, string>): { status: number; json: Json } {
    const perPage = Number(query.per_page ?? 20)
    const sorted = [...this.connectors].sort((a, b) => b.updated_at.localeCompare(a.updated_at))
    const start = query.starting_after ? Number(Buffer.from(query.starting_after, 'base64').toString()) : 0
    const page = sorted.slice(start, start + perPage)
    const next = start + perPage < sorted.length ? { starting_after: Buffer.from(String(start + perPage)).toString('base64') } : null
    const summary = page.map((c) => pick(detail(c), SUMMARY_FIELDS))
    return { status: 200, json: { type: 'list', data: summary, pages: { type: 'pages', per_page: perPage, next } } }
  }

  private create(body: Json): { status: number; json: Json } {
    if (typeof body.name !== 'string' || !body.name) return invalid('parameter_not_found', 'Name is required')
    const now = new Date().toISOString()
    const connector: DataConnector = {
      ...DEFAULTS,
      ...body,
      type: 'data_connector',
      id: String(this.next++),
      name: body.name,
      state: 'draft',
      headers: (body.headers as DataConnector['headers'] | undefined) ?? [],
      created_at: now,
      updated_at: now,
    }
    delete connector.mock_response
    this.connectors.push(connector)
    return { status: 201, json: detail(connector) }
  }

  private update(connector: DataConnector, body: Json): { status: number; json: Json } {
    const { mock_response: _mock, ...fields } = body
    Object.assign(connector, fields, { updated_at: new Date().toISOString() })
    return { status: 200, json: detail(connector) }
  }

  private results(connector: DataConnector, query: Record<string, string>): { status: number; json: Json } {
    const end = query.end_ts ? Number(query.end_ts) * 1000 : Date.now()
    const start = query.start_ts ? Number(query.start_ts) * 1000 : end - 3_600_000
    const perPage = Number(query.per_page ?? 10)
    const data = this.executions
      .filter((e) => e.data_connector_id === connector.id)
      .filter((e) => query.success === undefined || String(e.success) === query.success)
      .filter((e) => Date.parse(e.created_at) >= start && Date.parse(e.created_at) <= end)
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
    return { status: 200, json: { type: 'list', data: data.slice(0, perPage), pages: { type: 'pages', per_page: perPage, next: null } } }
  }
}

const SUMMARY_FIELDS = [
  'type',
  'id',
  'name',
  'description',
  'state',
  'http_method',
  'direct_fin_usage',
  'created_by_admin_id',
  'updated_by_admin_id',
  'created_at',
  'updated_at',
  'execution_results_url',
]

const DEFAULTS: Json = {
  description: null,
  http_method: 'get',
  url: null,
  direct_fin_usage: false,
  audiences: [],
  execution_type: 'server_side',
  configuration_response_type: 'test_response_type',
  data_inputs: [],
  response_fields: [],
  object_mappings: [],
  token_ids: [],
  customer_authentication: false,
  bypass_authentication: false,
  validate_missing_attributes: false,
}

/** A connector as the API gives it: header values always "****". */
function detail(c: DataConnector): Json {
  return {
    ...c,
    headers: c.headers.map((h) => ({ name: h.name, value: '****' })),
    execution_results_url: `/data_connectors/${c.id}/execution_results`,
  }
}

const pick = (o: Json, keys: string[]) => Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]))
const notFound = () => ({ status: 404, json: errors('data_connector_not_found', 'Data connector not found') })
const invalid = (code: string, message: string) => ({ status: 422, json: errors(code, message) })
const errors = (code: string, message: string) => ({ type: 'error.list', request_id: 'stand-in', errors: [{ code, message }] })
