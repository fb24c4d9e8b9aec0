import { parseArgs } from 'node:util'
import { DEFAULT_PORT, startDemo } from './server.js'

// npm run demo [-- --port N] [--data DIR] [--log-level info]

const USAGE = `Usage: npm run demo -- [options]

  --port N          port of the page (default ${DEFAULT_PORT} when free, else any; 0: any)
  --data DIR        keep the bridge's database in DIR (default: a temporary folder, removed on exit)
  --log-level L     the bridge's log level: fatal, error, warn (default), info, debug, trace, silent
  --status-step MS  time between Twilio's status callbacks (default 600)
  --help            this text`

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    data: { type: 'string' },
    'log-level': { type: 'string' },
    'status-step': { type: 'string' },
    help: { type: 'boolean' },
  },
})

if (values.help) {
  console.log(USAGE)
  process.exit(0)
}

const number = (name: string, value: string | undefined, max: number) => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > max) {
    console.error(`--${name} expects a whole number from 0 to ${max}\n\n${USAGE}`)
    process.exit(2)
  }
  return n
}

const demo = await startDemo({
  port: number('port', values.port, 65535),
  dataDir: values.data,
  logLevel: values['log-level'],
  statusStepMs: number('status-step', values['status-step'], 60_000),
}).catch((err: Error) => {
  console.error(`The demo could not start: ${err.message}`)
  process.exit(1)
})

console.log(`Demo ready: ${demo.url}`)
console.log('A simulated phone, Intercom inbox and sidebar, with the real bridge in between. Ctrl+C stops it.')

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1)
    stopping = true
    demo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
