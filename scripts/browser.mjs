// The Chromium that the demo's browser test (test/sandbox/demo.test.ts) drives. It is found the way
// Playwright and Puppeteer users expect (their variables, Playwright's browser cache, the system's
// browser); when there is none, `npm test` installs Debian's `chromium` with apt-get if it runs as
// root on a machine that has apt-get, and says so. `npx playwright install chromium` is not used:
// it downloads a browser build from outside the npm registry, which many CI machines cannot reach.
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, readdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, join } from 'node:path'

/** Variables that name a browser, in the order they are read: ours, then Puppeteer's and chrome-launcher's. */
export const PATH_VARIABLES = ['CHROMIUM_PATH', 'PUPPETEER_EXECUTABLE_PATH', 'CHROME_PATH']
/** Set to 1 to ignore the system's own browser (to try the install path on a machine that has one). */
export const SKIP_SYSTEM = 'TEST_BROWSER_SKIP_SYSTEM'
const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']
const MAC_APPS = ['/Applications/Google Chrome.app/Contents/MacOS/Google Chrome', '/Applications/Chromium.app/Contents/MacOS/Chromium']
// Inside one of Playwright's chromium-NNNN folders, by platform.
const PLAYWRIGHT_BINARIES = [
  'chrome-linux64/chrome',
  'chrome-linux/chrome',
  'chrome-mac/Chromium.app/Contents/MacOS/Chromium',
  'chrome-win/chrome.exe',
]
export const HOW_TO_GET_ONE =
  'install one (Debian/Ubuntu: sudo apt-get install chromium; elsewhere: npx playwright install chromium, or Google Chrome) or set CHROMIUM_PATH to its executable'

function executable(path) {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Playwright's browser cache: PLAYWRIGHT_BROWSERS_PATH, else its default folder for this platform. */
function playwrightCache(env) {
  if (env.PLAYWRIGHT_BROWSERS_PATH) return env.PLAYWRIGHT_BROWSERS_PATH
  if (process.platform === 'darwin') return join(homedir(), 'Library/Caches/ms-playwright')
  if (process.platform === 'win32') return join(env.LOCALAPPDATA ?? homedir(), 'ms-playwright')
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ms-playwright')
}

function fromPlaywrightCache(env) {
  const cache = playwrightCache(env)
  if (!existsSync(cache)) return undefined
  const revisions = readdirSync(cache)
    .filter((name) => /^chromium-\d+$/.test(name))
    .sort((a, b) => Number(b.slice(9)) - Number(a.slice(9)))
  for (const revision of revisions) {
    const found = PLAYWRIGHT_BINARIES.map((bin) => join(cache, revision, bin)).find(executable)
    if (found) return found
  }
  return undefined
}

function fromSystem(env) {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean)
  const onPath = SYSTEM_NAMES.flatMap((name) => dirs.map((dir) => join(dir, name))).find(executable)
  return onPath ?? (process.platform === 'darwin' ? MAC_APPS.find(executable) : undefined)
}

/**
 * The browser to drive: `{ path, from }`, or `{ problem }` (a sentence) when none is found. A variable
 * that names a browser which is not there is a problem, not a reason to look elsewhere.
 */
export function findChromium(env = process.env) {
  for (const name of PATH_VARIABLES) {
    const path = env[name]
    if (!path) continue
    if (executable(path)) return { path, from: name }
    return { problem: `${name} is ${path}, which is not an executable file: ${HOW_TO_GET_ONE}.` }
  }
  const cached = fromPlaywrightCache(env)
  if (cached) return { path: cached, from: "Playwright's browser cache" }
  const system = env[SKIP_SYSTEM] === '1' ? undefined : fromSystem(env)
  if (system) return { path: system, from: 'the system' }
  return { problem: `No Chromium found for the demo's browser test: ${HOW_TO_GET_ONE}.` }
}

/** Installs Debian's chromium when this may: as root, on a machine with apt-get. The path, or undefined. */
function installWithApt(log) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  if (process.platform !== 'linux' || !root || spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined
  log("npm test: no Chromium found for the demo's browser test; installing Debian's chromium with apt-get (once).")
  const run = (args) =>
    spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0
  // The emoji font only makes the test's screenshots readable.
  if (!run(['update']) || !run(['install', '-y', '--no-install-recommends', 'chromium', 'fonts-noto-color-emoji'])) return undefined
  return executable('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined
}

/**
 * The browser for this test run, installed first when none is found and this may. Returns
 * `{ path, from }` or `{ problem }`.
 */
export function ensureChromium(env = process.env, log = (line) => console.error(line)) {
  const found = findChromium(env)
  if (found.path || PATH_VARIABLES.some((name) => env[name])) return found
  const installed = installWithApt(log)
  if (installed) {
    log(`npm test: installed ${installed}.`)
    return { path: installed, from: 'apt-get' }
  }
  return found
}
