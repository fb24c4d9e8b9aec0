import type { BridgeDeps } from './bridge/deps.js'
import { deliverTask, tagTask } from './bridge/inbound.js'
import { keywordTask } from './bridge/keywords.js'
import { showOptOutTask } from './bridge/intercom-consent.js'
import { catchUpTask } from './bridge/catchup.js'
import { checkpointTask, pruneTask } from './bridge/maintenance.js'
import { markReadTask, noteTask, notifyFailureTask, replyTask } from './bridge/outbound.js'
import { fallbackCheckTask, fallbackTask, syncAttributesTask } from './bridge/status.js'
import { automatedNoteTask, automatedSendTask } from './bridge/automated.js'
import { panelNoteTask, panelSendTask, savePhoneTask } from './bridge/sidebar.js'
import { markTask, mergeTask } from './bridge/links.js'
import { redactTask } from './bridge/privacy.js'
import { dispatchTask } from './bridge/broadcast.js'
import { expandTask } from './bridge/broadcast-audience.js'
import { scheduledHeldTask, scheduledNoteTask, scheduledSendTask } from './bridge/scheduled.js'
import { bindTasks, type Task } from './queue/task.js'
import type { TaskDefinition } from './queue/worker.js'

/**
 * Every task the worker runs. Each is declared (`defineTask`: name, payload, handler, keys) in the
 * bridge module whose code runs it; a task declared but missing here stops the service at start.
 */ import { routeTask } from './bridge/senders.js'

export const BRIDGE_TASKS: ReadonlyArray<Task<unknown, BridgeDeps>> = [
  deliverTask,
  tagTask,
  routeTask,
  keywordTask,
  showOptOutTask,
  catchUpTask,
  pruneTask,
  checkpointTask,
  replyTask,
  notifyFailureTask,
  noteTask,
  markReadTask,
  syncAttributesTask,
  fallbackTask,
  fallbackCheckTask,
  savePhoneTask,
  markTask,
  mergeTask,
  automatedSendTask,
  automatedNoteTask,
  panelSendTask,
  panelNoteTask,
  redactTask,
  expandTask,
  dispatchTask,
  scheduledSendTask,
  scheduledNoteTask,
  scheduledHeldTask,
]

/** The worker's task list: each bridge task's handler bound to the bridge's dependencies. */
export function createTasks(deps: BridgeDeps): Record<string, TaskDefinition> {
  return bindTasks(deps, BRIDGE_TASKS)
}
