// Runs the tap suite and ends with one plain line, "N passed, N failed", that any CI can read.
// Extra arguments go to tap (e.g. a single test file).
import { spawn } from 'node:child_process'

const tap = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] })
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
  console.log(`\n${count('pass')} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
  process.exit(code ?? (failed ? 1 : 0))
})
