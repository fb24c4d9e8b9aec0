// Runs the tap suite and ends with one plain line, "N passed, N failed", that any CI can read.
// Extra arguments go to tap (e.g. a single test file). The whole suite must meet the coverage bar in
// package.json ("tap": statements, branches, functions, lines); a part of it is not held to it.
// The demo's browser test needs Chromium: found or installed first (scripts/browser.mjs), then handed
// to the test as CHROMIUM_PATH.
import { spawn } from 'node:child_process'
import { ensureChromium } from './browser.mjs'

const args = process.argv.slice(2)
const partial = args.some((a) => !a.startsWith('-'))
const env = { ...process.env }
if (!partial || args.some((a) => a.includes('demo.test'))) {
  const browser = ensureChromium()
  if (browser.path) {
    env.CHROMIUM_PATH = browser.path
    console.error(`npm test: the demo's browser test drives ${browser.path} (from ${browser.from}).`)
  } else console.error(`npm test: ${browser.problem}`) // the demo's browser test fails with the same sentence
}
const tap = spawn('npx', ['tap', ...(partial ? ['--allow-incomplete-coverage'] : []), ...args], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env,
})
let tail = ''
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString('utf8')).slice(-4096)
})
tap.on('close', (code) => {
  const summaries = [...tail.matchAll(/# \{ total: (\d+)(.*?)\}/g)]
  const last = summaries.at(-1)
  const count = (name) => Number(new RegExp(`${name}: (\\d+)`).exec(last?.[2] ?? '')?.[1] ?? 0)
  if (!last) {
    console.log('0 passed, 1 failed')
    process.exit(code || 1)
  }
  const failed = count('fail')
  const skipped = count('skip') + count('todo')
  // tap says "ERROR: incomplete ... coverage" when the bar is not met, and exits 1 for it.
  const coverage = [...tail.matchAll(/ERROR: incomplete (\w+) coverage \(([\d.]+)%\)/g)].map((m) => `${m[1]} ${m[2]}%`)
  console.log(
    `\n${count('pass')} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}${coverage.length && !partial ? ` (coverage below the bar: ${coverage.join(', ')})` : ''}`,
  )
  process.exit(code ?? (failed ? 1 : 0))
})
