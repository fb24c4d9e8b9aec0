import type { TaskHandler } from './jobs/worker.js'

/** Every job the bridge runs, by task name. The bridge's domain handlers register here. */
export const tasks: Record<string, TaskHandler> = {}
