import type { MigrateOutcome } from '../../shared/db/database.js'

/**
 * What `sms-bridge migrate` (and the start's log) says about an outcome: what was applied, and the
 * way back that was kept, or that none could be for a remote database.
 */
export function migrateSentences(outcome: MigrateOutcome, now: number): string[] {
  if (outcome.applied.length === 0) return ['The database is up to date.']
  const lines = [`Applied: ${outcome.applied.join(', ')}`]
  if (outcome.backup) {
    lines.push(
      `Backed up the database first, to ${outcome.backup}. To roll back: stop the service, run sms-bridge restore ${outcome.backup}, then start the version it came from.`,
    )
  }
  if (outcome.pruned?.length) lines.push(`Removed older automatic backups: ${outcome.pruned.join(', ')}.`)
  if (outcome.remote) {
    lines.push(
      "The database is remote: the bridge cannot copy it. Take a backup with Turso's tools before an upgrade; " +
        `to roll back this one, use Turso's point-in-time restore to a time before ${new Date(now).toISOString()}.`,
    )
  }
  return lines
}
