import type { BridgeDeps } from './bridge/deps.js'
import { DELIVER_INBOUND, TAG_CONVERSATION, deliverInbound, tagConversation } from './bridge/inbound.js'
import { APPLY_KEYWORD, applyKeyword } from './bridge/keywords.js'
import { CATCH_UP, catchUp } from './bridge/catchup.js'
import { CHECKPOINT, PRUNE, checkpoint, prune } from './bridge/maintenance.js'
import { MARK_READ, NOTIFY_FAILURE, POST_NOTE, RELAY_REPLY, markConversationRead, notifyFailure, postNote, relayReply } from './bridge/outbound.js'
import { SYNC_CONTACT, syncContactAttributes } from './bridge/status.js'
import { NOTE_AUTOMATED, SEND_AUTOMATED, noteAutomated, sendAutomated } from './bridge/automated.js'
import type { TaskHandler } from './jobs/worker.js'
import { NOTE_PANEL, SEND_FROM_PANEL, notePanelMessage, sendPanelMessage } from '../canvas/panel.js'

/** Every job the bridge runs, by task name. */
export function createTasks(deps: BridgeDeps): Record<string, TaskHandler> {
  return {
    [DELIVER_INBOUND]: (payload, ctx) => deliverInbound(deps, payload, ctx),
    [TAG_CONVERSATION]: (payload) => tagConversation(deps, payload),
    [APPLY_KEYWORD]: (payload) => applyKeyword(deps, payload),
    [CATCH_UP]: () => catchUp(deps),
    [PRUNE]: () => prune(deps),
    [CHECKPOINT]: () => checkpoint(deps),
    [RELAY_REPLY]: (payload, ctx) => relayReply(deps, payload, ctx),
    [NOTIFY_FAILURE]: (payload) => notifyFailure(deps, payload),
    [POST_NOTE]: (payload) => postNote(deps, payload),
    [MARK_READ]: (payload) => markConversationRead(deps, payload),
    [SYNC_CONTACT]: (payload) => syncContactAttributes(deps, payload),
    [SEND_AUTOMATED]: (payload, ctx) => sendAutomated(deps, payload, ctx),
    [NOTE_AUTOMATED]: (payload) => noteAutomated(deps, payload),
    [SEND_FROM_PANEL]: (payload, ctx) => sendPanelMessage(deps, payload, ctx),
    [NOTE_PANEL]: (payload) => notePanelMessage(deps, payload),
  }
}
