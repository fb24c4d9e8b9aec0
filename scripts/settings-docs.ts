// Writes .env.example and the README's Settings table from the config schema (server/config.ts), the
// one place settings are defined. `npm run settings:docs`; test/server/settings-docs.test.ts fails
// when either file is out of date.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { REQUIRED_SETTINGS, SETTINGS, SETTING_NAMES, settingDefault } from '../server/config.js'

export const ROOT = fileURLToPath(new URL('../', import.meta.url))
export const TABLE_START = '<!-- settings table: written by npm run settings:docs -->'
export const TABLE_END = '<!-- end of settings table -->'

/** Markdown: setting names and other code-like words in backticks. */
const markdown = (text: string) => text.replace(/\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b/g, '`$1`')

export function settingsTable(): string {
  const rows = SETTING_NAMES.map((name) => {
    const required = REQUIRED_SETTINGS.includes(name) ? ' **required**' : ''
    return `| \`${name}\`${required} | ${markdown(SETTINGS[name]).replace(/\|/g, '\\|')} |`
  })
  return [TABLE_START, '| Setting | Meaning |', '|---|---|', ...rows, TABLE_END].join('\n')
}

export function envExample(): string {
  const lines = [
    '# intercom-sms-bridge settings. Copy this file to .env and fill in the required ones; the service',
    '# reads .env from the folder it starts in (real environment variables win over it). Every other',
    '# setting is shown commented out, with its default. Written by `npm run settings:docs` from',
    '# server/config.ts: edit that, not this file.',
    '',
    '# Required (TWILIO_MESSAGING_SERVICE_SID may stand in for TWILIO_PHONE_NUMBER)',
  ]
  for (const name of REQUIRED_SETTINGS) lines.push(`# ${SETTINGS[name]}`, `${name}=`)
  lines.push('', '# Optional')
  for (const name of SETTING_NAMES.filter((n) => !REQUIRED_SETTINGS.includes(n)))
    lines.push(`# ${SETTINGS[name]}`, `# ${name}=${settingDefault(name)}`)
  return `${lines.join('\n')}\n`
}

/** The README with its settings table replaced by the current one. */
export function readmeWithTable(readme: string): string {
  const start = readme.indexOf(TABLE_START)
  const end = readme.indexOf(TABLE_END)
  if (start < 0 || end < start) throw new Error(`README.md has no settings table markers (${TABLE_START} ... ${TABLE_END})`)
  return readme.slice(0, start) + settingsTable() + readme.slice(end + TABLE_END.length)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(`${ROOT}.env.example`, envExample())
  const readme = readFileSync(`${ROOT}README.md`, 'utf8')
  writeFileSync(`${ROOT}README.md`, readmeWithTable(readme))
  console.log('Wrote .env.example and the README settings table.')
}
