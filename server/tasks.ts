import type { BridgeDeps } from './bridge/deps.js'
import { TASK_PAYLOADS, type TaskName, type TaskPayload } from './bridge/jobs.js'
import { deliverInbound, tagConversation } from './bridge/inbound.js'
import { applyKeyword } from './bridge/keywords.js'
import { catchUp } from './bridge/catchup.js'
import { checkpoint, prune } from './bridge/maintenance.js'
import { markConversationRead, notifyFailure, postNote, relayReply, replyGaveUp } from './bridge/outbound.js'
import { checkFallback, linkFallback, syncContactAttributes } from './bridge/status.js'
import { noteAutomated, sendAutomated } from './bridge/automated.js'
import { notePanelMessage, savePhoneOnContact, savePhoneGaveUp, sendPanelMessage } from './bridge/sidebar.js'
import type { TaskDefinition } from './jobs/worker.js'
import { markContact, mergeContact } from './bridge/links.js'
import { redactAtTwilio } from './bridge/privacy.js'

type Handlers = { [N in TaskName]: Omit<TaskDefinition<TaskPayload<N>>, 'payload'> }

/** Every job the bridge runs: its task name, the payload it carries (TASK_PAYLOADS) and its handler. */
export function createTasks(deps: BridgeDeps): Record<TaskName, TaskDefinition> {
  const handlers: Handlers = {
    'inbound.deliver': { run: (p, ctx) => deliverInbound(deps, p, ctx) },
    'conversation.tag': { run: (p) => tagConversation(deps, p) },
    'consent.keyword': { run: (p) => applyKeyword(deps, p) },
    'inbound.catchup': { run: () => catchUp(deps) },
    'maintenance.prune': { run: () => prune(deps, deps.clock.now()) },
    'maintenance.checkpoint': { run: () => checkpoint(deps, deps.clock.now()) },
    'outbound.reply': { run: (p, ctx) => relayReply(deps, p, ctx), onDead: replyGaveUp },
    'outbound.notify_failure': { run: (p) => notifyFailure(deps, p) },
    'status.fallback': { run: (p) => linkFallback(deps, p) },
    'status.fallback_check': { run: (p) => checkFallback(deps, p) },
    'conversation.note': { run: (p) => postNote(deps, p) },
    'conversation.mark_read': { run: (p) => markConversationRead(deps, p) },
    'contact.sms_attributes': { run: (p) => syncContactAttributes(deps, p) },
    'contact.save_phone': { run: (p) => savePhoneOnContact(deps, p), onDead: savePhoneGaveUp },
    'contact.mark': { run: (p, ctx) => markContact(deps, p, ctx) },
    'contact.merge': { run: (p) => mergeContact(deps, p) },
    'automated.send': { run: (p, ctx) => sendAutomated(deps, p, ctx) },
    'automated.note': { run: (p) => noteAutomated(deps, p) },
    'canvas.send': { run: (p, ctx) => sendPanelMessage(deps, p, ctx) },
    'canvas.note': { run: (p) => notePanelMessage(deps, p) },
    'privacy.redact': { run: (p) => redactAtTwilio(deps, p) },
  }
  const tasks = {} as Record<TaskName, TaskDefinition>
  for (const name of Object.keys(TASK_PAYLOADS) as TaskName[]) tasks[name] = define(name, handlers)
  return tasks
}

function define<N extends TaskName>(name: N, handlers: Handlers): TaskDefinition {
  const schema = TASK_PAYLOADS[name] as unknown as TaskDefinition<TaskPayload<N>>['payload']
  return { payload: schema, ...handlers[name] } as TaskDefinition<TaskPayload<N>> as TaskDefinition
}
