// Types for scripts/browser.mjs (plain JavaScript, so that `node scripts/test.mjs` runs it before any build).
export type BrowserLookup = { path: string; from: string; problem?: undefined } | { path?: undefined; problem: string }
export const PATH_VARIABLES: string[]
export const SKIP_SYSTEM: string
export const HOW_TO_GET_ONE: string
export function findChromium(env?: NodeJS.ProcessEnv): BrowserLookup
export function ensureChromium(env?: NodeJS.ProcessEnv, log?: (line: string) => void): BrowserLookup
