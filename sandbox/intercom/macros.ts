import { readFileSync } from 'node:fs'

// The Intercom stand-in's macros and teammates' teams (2.16: GET /macros, GET /macros/{id},
// GET /admins/{admin_id}), seeded with the 2.16 description's examples (the fixture keeps them with
// their source). Visibility is the description's: a macro `visible_to` "specific_teams" is seen only
// by an admin in one of its `visible_to_team_ids`; the token's admin is the one that sees.

export interface Macro {
  type: 'macro'
  id: string
  name: string
  body: string | null
  body_text: string | null
  created_at: string
  updated_at: string
  visible_to: 'everyone' | 'specific_teams'
  visible_to_team_ids: string[]
  available_on: Array<'inbox' | 'messenger'>
}

interface Examples {
  getMacro: Record<string, Macro>
  listMacros: Record<string, { data: Macro[] }>
}

/** The description's examples: getMacro's, then listMacros' items whose ids those do not use. */
export function exampleMacros(): Macro[] {
  const file = new URL('../../test/fixtures/real/intercom/api-2.16/macros/macros-2.16.json', import.meta.url)
  const examples = JSON.parse(readFileSync(file, 'utf8')) as Examples
  const macros = Object.values(examples.getMacro)
  for (const list of Object.values(examples.listMacros)) {
    for (const m of list.data) if (!macros.some((x) => x.id === m.id)) macros.push(m)
  }
  return macros.map((m) => structuredClone(m))
}

const visibleTo = (m: Macro, teamIds: readonly string[]) =>
  m.visible_to === 'everyone' || m.visible_to_team_ids.some((id) => teamIds.includes(id))

const cursorOf = (m: Macro) => Buffer.from(JSON.stringify([Date.parse(m.updated_at) / 1000, m.id])).toString('base64')

/** GET /macros: newest `updated_at` first, `per_page` at a time, `starting_after` the last one's [updated_at, id]. */
export function listMacros(macros: readonly Macro[], teamIds: readonly string[], query: Record<string, string>): unknown {
  const perPage = Number(query.per_page ?? 50)
  const since = query.updated_since === undefined ? null : Number(query.updated_since)
  const order = (m: Macro): [number, string] => [Date.parse(m.updated_at) / 1000, m.id]
  const sorted = macros
    .filter((m) => visibleTo(m, teamIds) && (since === null || Date.parse(m.updated_at) / 1000 > since))
    .sort((a, b) => order(b)[0] - order(a)[0] || b.id.localeCompare(a.id))
  let start = 0
  if (query.starting_after) {
    const [at, id] = JSON.parse(Buffer.from(query.starting_after, 'base64').toString('utf8')) as [number, string]
    start = sorted.findIndex((m) => order(m)[0] < at || (order(m)[0] === at && m.id.localeCompare(id) < 0))
    if (start < 0) start = sorted.length
  }
  const page = sorted.slice(start, start + perPage)
  const more = start + perPage < sorted.length
  return {
    type: 'list',
    data: page,
    pages: { type: 'pages', per_page: perPage, next: more ? { starting_after: cursorOf(page[page.length - 1]!) } : null },
  }
}

/** GET /macros/{id}: the macro, or undefined (404) when there is none or the admin may not see it. */
export function findMacro(macros: readonly Macro[], teamIds: readonly string[], id: string): Macro | undefined {
  return macros.find((m) => m.id === id && visibleTo(m, teamIds))
}
