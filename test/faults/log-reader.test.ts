import t, { type Test } from 'tap'
import { tempDir } from '../support/db.js'
import { SERVICE_ENV, startServiceProcess, type ServiceProcess } from '../support/process.js'

// A stop must end within its grace period (20 s) whatever the log reader behind standard output
// does. Before: pino's final flushSync at exit retried its write forever (EPIPE or ECONNRESET when
// the reader was gone, EAGAIN when it stopped reading), and only SIGKILL ended the process.

/** Requests whose log lines fill the pipe to a reader that stopped reading. */
async function fillTheLog(service: ServiceProcess): Promise<void> {
  service.child.stdout!.pause()
  for (let i = 0; i < 3_000; i++) await fetch(`${service.url}/not-here/${'x'.repeat(300)}`).then((r) => r.text())
}

/** Resolves with how the process ended, or rejects if it is still running after `ms` (a generous bound, never a verdict on speed). */
function ended(service: ServiceProcess, ms = 90_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const { child } = service
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode })
    const timer = setTimeout(() => reject(new Error('still running after SIGTERM')), ms)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal })
    })
  })
}

async function start(t: Test): Promise<ServiceProcess> {
  return startServiceProcess(t, 'node', { ...SERVICE_ENV, LOG_LEVEL: 'info' }, tempDir(t))
}

t.test('the log reader goes away with unread lines, then SIGTERM: the service stops, exit 0', async (t) => {
  const service = await start(t)
  await fillTheLog(service)
  service.child.stdout!.destroy()
  service.child.kill('SIGTERM')
  t.same(await ended(service), { code: 0, signal: null })
})

t.test(
  'the log reader stops reading (the pipe full) and SIGTERM: the process still ends, at the latest by SIGKILL to itself',
  async (t) => {
    const service = await start(t)
    await fillTheLog(service)
    service.child.kill('SIGTERM')
    const how = await ended(service)
    t.ok(how.code === 0 || how.signal === 'SIGKILL', `ended: ${JSON.stringify(how)}`)
  },
)
