import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ensureChromium, findChromium } from '../../scripts/browser.mjs'

// The lookup behind `npm test`'s browser: each place it reads, in order, on folders made here.

const dir = mkdtempSync(join(tmpdir(), 'browser-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function fakeBinary(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, '#!/bin/sh\n')
  chmodSync(path, 0o755)
  return path
}

const named = fakeBinary(join(dir, 'named/chrome'))
const cache = join(dir, 'ms-playwright')
fakeBinary(join(cache, 'chromium-1100/chrome-linux/chrome'))
const newest = fakeBinary(join(cache, 'chromium-1200/chrome-linux64/chrome'))
mkdirSync(join(cache, 'chromium-1300')) // an unfinished download: no binary in it
const bin = join(dir, 'bin')
const system = fakeBinary(join(bin, 'chromium-browser'))
const empty = join(dir, 'empty')
mkdirSync(empty)

t.test('a variable that names a browser comes first, then Playwrights cache, then the system', async (t) => {
  t.same(findChromium({ CHROMIUM_PATH: named, PLAYWRIGHT_BROWSERS_PATH: cache, PATH: bin }), { path: named, from: 'CHROMIUM_PATH' })
  t.same(findChromium({ PUPPETEER_EXECUTABLE_PATH: named, PATH: bin }), { path: named, from: 'PUPPETEER_EXECUTABLE_PATH' })
  t.same(
    findChromium({ PLAYWRIGHT_BROWSERS_PATH: cache, PATH: bin }),
    { path: newest, from: "Playwright's browser cache" },
    'the newest finished revision',
  )
  t.same(findChromium({ PLAYWRIGHT_BROWSERS_PATH: empty, PATH: `${empty}:${bin}` }), { path: system, from: 'the system' })
})

t.test('a variable naming a missing browser is reported, not passed over', async (t) => {
  const found = findChromium({ CHROMIUM_PATH: join(dir, 'nowhere'), PATH: bin })
  t.match(
    found.problem,
    /^CHROMIUM_PATH is .*nowhere, which is not an executable file: install one \(Debian\/Ubuntu: sudo apt-get install chromium/,
  )
  t.same(
    ensureChromium({ CHROMIUM_PATH: join(dir, 'nowhere') }, () => t.fail('no install for a named browser')),
    found,
    'and nothing is installed in its place',
  )
})

t.test('TEST_BROWSER_SKIP_SYSTEM hides the system browser; none left is a sentence saying how to get one', async (t) => {
  const found = findChromium({ PLAYWRIGHT_BROWSERS_PATH: empty, PATH: bin, TEST_BROWSER_SKIP_SYSTEM: '1' })
  t.match(found, { problem: /^No Chromium found for the demo's browser test: install one .* or set CHROMIUM_PATH to its executable\.$/ })
})
