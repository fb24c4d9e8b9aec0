/** The file of an embedded `file:` DATABASE_URL; undefined for remote and in-memory databases. */
export function databaseFile(url: string): string | undefined {
  if (!url.startsWith('file:') || url === 'file::memory:') return undefined
  return url.slice('file:'.length).replace(/\?.*$/, '')
}
