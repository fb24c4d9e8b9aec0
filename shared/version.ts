import { readFileSync } from 'node:fs'

/** The product's name as releases and messages spell it (package.json's name). */
export const PRODUCT = 'intercom-sms-bridge'

// The bundle (scripts/bundle.mjs) writes package.json's version in place of this name at build time,
// so a deployed service names its version without reading a file beside it.
declare const __BRIDGE_VERSION__: string | undefined

/** This build's version: package.json's, embedded in the bundle, read from the file otherwise. */
export const VERSION: string = typeof __BRIDGE_VERSION__ === 'string' ? __BRIDGE_VERSION__ : versionFromPackageJson()

/** From sources (tsx, tap) package.json is one folder up; from tsc's dist/ two. */
function versionFromPackageJson(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown }
      if (pkg.name === PRODUCT && typeof pkg.version === 'string') return pkg.version
    } catch {
      // Not there from this folder: try the next.
    }
  }
  return 'unknown'
}
