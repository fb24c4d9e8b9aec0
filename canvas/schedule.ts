import type { BridgeDeps } from '../server/bridge/deps.js'
import { cancelScheduled, releaseScheduled, scheduleFromPanel, scheduleTimes, type ScheduleChoice } from '../server/bridge/scheduled.js'
import { loadPanel, type PanelContext } from '../server/bridge/sidebar.js'
import { inboxPanel } from './inbox-views.js'
import { pickedScheduled, scheduledChangeWords, scheduleScreen, scheduleWords } from './schedule-views.js'
import type { CanvasResponse } from './schema.js'
import { typedValue, type CanvasRequest } from './signed.js'

/** A send-later button: one bridge function, answered with the panel or (to try again) the schedule screen. */
type ScheduleButton = (deps: BridgeDeps, ctx: PanelContext, r: CanvasRequest) => Promise<CanvasResponse>

async function schedule(deps: BridgeDeps, ctx: PanelContext, r: CanvasRequest, choice: ScheduleChoice): Promise<CanvasResponse> {
  const draft = typedValue(r, 'sms_body')
  const words = scheduleWords(await scheduleFromPanel(deps, ctx, draft, choice))
  if ('error' in words && words.again) return scheduleScreen(await scheduleTimes(deps, ctx.contact.id), draft, words.error)
  return inboxPanel(await loadPanel(deps, ctx.contact), 'error' in words ? { error: words.error, draft } : { notice: words.notice })
}

/** Opening the screen changes nothing; the others each change one thing, once (the nonce check). */
export const SCHEDULE_SCREEN = {
  send_later: async (deps, ctx, r) => scheduleScreen(await scheduleTimes(deps, ctx.contact.id), typedValue(r, 'sms_body')),
} satisfies Record<string, ScheduleButton>

export const SCHEDULE_BUTTONS = {
  schedule_tomorrow: (deps, ctx, r) => schedule(deps, ctx, r, { kind: 'tomorrow' }),
  schedule_business_morning: (deps, ctx, r) => schedule(deps, ctx, r, { kind: 'business_morning' }),
  schedule_chosen: (deps, ctx, r) => schedule(deps, ctx, r, { kind: 'chosen', text: typedValue(r, 'send_at_input') }),
  cancel_scheduled: async (deps, ctx, r) => {
    const outcome = await cancelScheduled(deps, ctx, pickedScheduled(r.input_values))
    return inboxPanel(await loadPanel(deps, ctx.contact), scheduledChangeWords(outcome))
  },
  send_scheduled_anyway: async (deps, ctx, r) => {
    const outcome = await releaseScheduled(deps, ctx, pickedScheduled(r.input_values))
    return inboxPanel(await loadPanel(deps, ctx.contact), scheduledChangeWords(outcome))
  },
} satisfies Record<string, ScheduleButton>

/** Every send-later button, by component id. */
export const SCHEDULE: Record<string, ScheduleButton> = { ...SCHEDULE_SCREEN, ...SCHEDULE_BUTTONS }
