import { IntercomError } from 'intercom-client'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import { INTERCOM_API_VERSION, intercomFailure, intercomHost, sayWhyFetchFailed } from './intercom.js'

// Intercom's Data Connectors API (2.16, /data_connectors), which intercom-client 7 does not cover:
// the same token, version pin, timeout and failure classification (`intercomFailure`) as the SDK's calls.

export type DataInput = {
  name: string
  type: 'string' | 'integer' | 'decimal' | 'boolean'
  description: string
  required: boolean
  default_value?: string
}

/** The fields the bridge sets on a connector (create_data_connector_request / update_data_connector_request). */
export interface ConnectorSpec {
  name: string
  description: string
  http_method: 'post'
  url: string
  body: string
  headers: Array<{ name: string; value: string }>
  data_inputs: DataInput[]
  direct_fin_usage: boolean
  audiences: Array<'leads' | 'users' | 'visitors'>
  bypass_authentication: boolean
  customer_authentication: boolean
  validate_missing_attributes: boolean
  mock_response: Record<string, unknown>
  token_ids: string[]
}

/** A connector as GET /data_connectors/{id} answers (header values are always "****"). */
export interface DataConnector {
  id: string
  name: string
  description: string | null
  state: 'draft' | 'live'
  url?: string | null
  body?: string
  http_method: string
  direct_fin_usage: boolean
  audiences?: string[]
  headers?: Array<{ name: string; value: string }>
  data_inputs?: DataInput[]
  bypass_authentication?: boolean
  customer_authentication?: boolean
  validate_missing_attributes?: boolean | null
  token_ids?: string[]
}

export interface Execution {
  id: string
  success: boolean
  http_status: number | null
  error_type?: string | null
  error_message?: string | null
  source_type?: string | null
  created_at: string
}

export class DataConnectorsApi {
  private readonly fetch: typeof fetch

  constructor(
    private readonly config: Pick<Config['intercom'], 'accessToken' | 'apiBaseUrl'>,
    metrics?: Metrics,
  ) {
    const base = sayWhyFetchFailed(fetch)
    this.fetch = metrics ? metrics.instrumentedFetch('intercom', base) : base
  }

  private async call<T>(what: string, method: string, path: string, body?: unknown): Promise<T> {
    try {
      const res = await this.fetch(`${this.config.apiBaseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.config.accessToken}`,
          'intercom-version': INTERCOM_API_VERSION,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      })
      const text = await res.text()
      const json = text ? (JSON.parse(text) as unknown) : undefined
      if (!res.ok) throw new IntercomError({ message: `HTTP ${res.status}`, statusCode: res.status, body: json, rawResponse: res })
      return json as T
    } catch (err) {
      throw intercomFailure(err, what, intercomHost(this.config))
    }
  }

  /** Every connector of the workspace (summaries), following the pages. */
  async list(): Promise<Array<Pick<DataConnector, 'id' | 'name' | 'state'>>> {
    const all: Array<Pick<DataConnector, 'id' | 'name' | 'state'>> = []
    let after: string | undefined
    for (let page = 0; page < 20; page++) {
      const query = new URLSearchParams({ per_page: '50', ...(after ? { starting_after: after } : {}) })
      const answer = await this.call<{ data: DataConnector[]; pages?: { next?: { starting_after?: string } | null } }>(
        'list the data connectors',
        'GET',
        `/data_connectors?${query.toString()}`,
      )
      all.push(...answer.data)
      after = answer.pages?.next?.starting_after
      if (!after) break
    }
    return all
  }

  get(id: string): Promise<DataConnector> {
    return this.call('read the data connector', 'GET', `/data_connectors/${encodeURIComponent(id)}`)
  }

  create(spec: ConnectorSpec): Promise<DataConnector> {
    return this.call('create the data connector', 'POST', '/data_connectors', spec)
  }

  update(id: string, fields: Partial<ConnectorSpec> & { state?: 'draft' | 'live' }): Promise<DataConnector> {
    return this.call('update the data connector', 'PATCH', `/data_connectors/${encodeURIComponent(id)}`, fields)
  }

  /** Failed executions since `since` (ms), newest first, at most 30 (no bodies: they may hold what a customer typed). */
  async failures(id: string, since: number, now: number): Promise<Execution[]> {
    const query = new URLSearchParams({
      per_page: '30',
      success: 'false',
      start_ts: String(Math.floor(since / 1000)),
      end_ts: String(Math.floor(now / 1000)),
    })
    const answer = await this.call<{ data: Execution[] }>(
      "read the data connector's execution results",
      'GET',
      `/data_connectors/${encodeURIComponent(id)}/execution_results?${query.toString()}`,
    )
    return answer.data
  }
}
