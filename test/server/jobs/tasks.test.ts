import t from 'tap'
import { z } from 'zod'
import { BRIDGE_TASKS } from '../../../server/tasks.js'
import { bindTasks, defineTask } from '../../../server/queue/task.js'
import { buildTestApp } from '../../helper.js'

// Before any task of this test is defined: the service starts with the bridge's own list.
t.test("every task the bridge defines is in the worker's list, once", async (t) => {
  const { app } = await buildTestApp(t, { startWorker: false })
  const bound = bindTasks(app.bridge, BRIDGE_TASKS)
  t.equal(Object.keys(bound).length, BRIDGE_TASKS.length, 'one handler per task')
  t.ok(bound['inbound.deliver'] && bound['conversation.note'], 'named as the jobs table names them')
})

t.test("a task defined but left out of the worker's list stops the service at start, naming it", async (t) => {
  defineTask('test.stray', z.null(), { run: async () => {}, keys: { once: () => 'test.stray' } })
  await t.rejects(buildTestApp(t, { startWorker: false }), /no handler registered for task "test\.stray"/)
})

t.test('a name defined twice, or listed twice, is refused', async (t) => {
  const task = defineTask('test.twice', z.null(), { run: async () => {}, keys: { once: () => 'test.twice' } })
  t.throws(() => defineTask('test.twice', z.null(), { run: async () => {}, keys: {} }), /task "test\.twice" is defined twice/)
  t.throws(() => bindTasks(null, [task, task]), /task "test\.twice" is in the worker's list twice/)
})
