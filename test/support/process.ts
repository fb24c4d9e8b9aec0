import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { START_FLAGS } from '../../scripts/start-flags.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const CLI = fileURLToPath(new URL('../../dist/bundle/cli.js', import.meta.url))
const DENO = fileURLToPath(new URL('../../node_modules/.bin/deno', import.meta.url))

export interface ServiceProcess {
  child: ChildProcess
  /** Base URL it listens on, read from its own log line. */
  url: string
  output(): string
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>
}

/**
 * Child processes record no coverage. They run the same sources compiled another way (the bundle,
 * dist/ or tsx, each with its own source map), and tap merges all processes' coverage by source file:
 * two compilations of one file merged make nonsense of its figures (whole files counted as 0 of 0).
 * The suite's coverage is what the in-process tests reach; the processes are tested as black boxes.
 */
export const NO_COVERAGE = { _TAPJS_PROCESSINFO_COVERAGE_: '0' }

/** Only what a process needs to run; nothing of the developer's own settings leaks in. */
export function bareEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    DENO_NO_UPDATE_CHECK: '1',
    ...NO_COVERAGE,
    ...extra,
  }
}

export function runCli(args: string[], env: Record<string, string>, cwd: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: bareEnv(env), cwd })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Starts `sms-bridge start` under Node (as `npm start` does, its flags included) or Deno with PORT=0 and waits until it listens. */
export function startServiceProcess(
  t: { teardown(fn: () => unknown): void },
  runtime: 'node' | 'deno',
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 30_000,
): Promise<ServiceProcess> {
  const [cmd, args] = runtime === 'node' ? [process.execPath, [...START_FLAGS, CLI, 'start']] : [DENO, ['run', '--allow-all', CLI, 'start']]
  const child = spawn(cmd, args, { env: bareEnv({ PORT: '0', HOST: '127.0.0.1', ...env }), cwd })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime} service did not start:\n${out}`)), timeoutMs)
    const onData = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      resolve({
        child,
        url: m[1]!,
        output: () => out,
        stop: () => {
          child.kill('SIGTERM')
          return exited
        },
      })
    }
    child.stdout.on('data', onData)
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${runtime} service exited with ${code}:\n${out}`))
    })
  })
}

export const SERVICE_ENV = {
  PUBLIC_URL: 'https://sms-bridge.example.com',
  TWILIO_ACCOUNT_SID: `AC${'5'.repeat(32)}`,
  TWILIO_AUTH_TOKEN: 'twilio-token-for-tests',
  TWILIO_PHONE_NUMBER: '+14155550100',
  INTERCOM_ACCESS_TOKEN: 'intercom-token-for-tests',
  INTERCOM_CLIENT_SECRET: 'intercom-secret-for-tests',
  // The service never calls out at start; these keep any stray call on loopback all the same.
  TWILIO_API_BASE_URL: 'http://127.0.0.1:9',
  INTERCOM_API_BASE_URL: 'http://127.0.0.1:9',
}
