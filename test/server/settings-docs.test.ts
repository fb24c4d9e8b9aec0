import t from 'tap'
import { readFileSync } from 'node:fs'
import { REQUIRED_SETTINGS, SETTING_NAMES, settingDefault } from '../../server/config.js'
import { ROOT, TABLE_END, TABLE_START, envExample, settingsTable } from '../../scripts/settings-docs.js'

const readme = readFileSync(`${ROOT}README.md`, 'utf8')
const example = readFileSync(`${ROOT}.env.example`, 'utf8')

/** Names in the README's settings table, as written there. */
function tableNames(): string[] {
  const table = readme.slice(readme.indexOf(TABLE_START), readme.indexOf(TABLE_END))
  return [...table.matchAll(/^\| `([A-Z0-9_]+)`/gm)].map((m) => m[1]!)
}

/** Settings in .env.example, set or commented out, with the value written. */
function exampleEntries(): Map<string, string> {
  return new Map([...example.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]))
}

t.test('the README settings table lists every setting the service reads, and nothing else', async (t) => {
  const names = tableNames()
  for (const name of SETTING_NAMES) t.ok(names.includes(name), `${name} is in the README table`)
  for (const name of names) t.ok((SETTING_NAMES as string[]).includes(name), `${name} in the README table is a setting`)
  t.equal(names.length, new Set(names).size, 'each once')
})

t.test('.env.example lists every setting with its default, the required ones uncommented', async (t) => {
  const entries = exampleEntries()
  for (const name of SETTING_NAMES) {
    t.ok(entries.has(name), `${name} is in .env.example`)
    if (entries.has(name)) t.equal(entries.get(name), settingDefault(name), `${name} shows its default`)
  }
  for (const name of entries.keys()) t.ok((SETTING_NAMES as string[]).includes(name), `${name} in .env.example is a setting`)
  for (const name of REQUIRED_SETTINGS) t.match(example, new RegExp(`^${name}=$`, 'm'), `${name} is to be filled in`)
  // Defaults that matter to a first start, read off the schema rather than repeated here.
  t.equal(settingDefault('DATABASE_URL'), 'file:./data/bridge.db')
  t.equal(settingDefault('RELAY_BOT_REPLIES'), 'true')
  t.equal(settingDefault('QUIET_HOURS'), '', 'no default: off')
})

t.test('both files are exactly what npm run settings:docs writes (descriptions included)', async (t) => {
  t.equal(example, envExample(), 'run npm run settings:docs after changing a setting')
  t.ok(readme.includes(settingsTable()), 'run npm run settings:docs after changing a setting')
})
