import t from 'tap'
import { MemoryReleaser, memoryReducingCollection, type MemoryReading } from '../../server/memory.js'
import { TestClock } from '../support/clock.js'

const MB = 2 ** 20

/**
 * A process whose memory the test sets: `pool` stands for V8's pooled pages (outside the heap, given
 * back by a collection), `native` for memory a collection cannot give back.
 */
function fakeProcess() {
  const state = { heap: 40 * MB, pool: 0, native: 60 * MB, collections: 0 }
  return {
    state,
    read: (): MemoryReading => ({ rss: state.heap + state.pool + state.native, heapTotal: state.heap }),
    collect: () => {
      state.collections++
      state.pool = 0
    },
  }
}

function counters() {
  const seen = { releases: 0, bytes: 0 }
  return {
    seen,
    metrics: {
      memoryReleases: { inc: () => void seen.releases++ },
      memoryReleasedBytes: { inc: (n = 1) => void (seen.bytes += n) },
    } as never,
  }
}

t.test('a collection when the memory outside the heap grew by the threshold, not before', async (t) => {
  const clock = new TestClock(Date.parse('2026-12-07T12:00:00Z'))
  const proc = fakeProcess()
  const { seen, metrics } = counters()
  const releaser = new MemoryReleaser({ clock, collect: proc.collect, read: proc.read, metrics })

  proc.state.heap += 30 * MB // the heap itself grew: its pages are in use, nothing to give back
  t.equal(releaser.check(), null)
  proc.state.pool = 15 * MB
  t.equal(releaser.check(), null, 'under 16 MB: not worth a pause')
  t.equal(proc.state.collections, 0)

  proc.state.pool = 40 * MB
  t.equal(releaser.check(), 40 * MB, 'what the collection gave back')
  t.equal(proc.state.collections, 1)
  t.same(seen, { releases: 1, bytes: 40 * MB }, 'counted in the metrics')
})

t.test('at most one collection a minute; one that gives back little waits twice as long, up to 16 minutes', async (t) => {
  const clock = new TestClock(Date.parse('2026-12-07T12:00:00Z'))
  const proc = fakeProcess()
  const releaser = new MemoryReleaser({ clock, collect: proc.collect, read: proc.read })
  proc.state.pool = 40 * MB
  t.equal(releaser.check(), 40 * MB)

  proc.state.pool = 40 * MB
  clock.advance(59_000)
  t.equal(releaser.check(), null, 'a minute has not passed')
  clock.advance(1_000)
  t.equal(releaser.check(), 40 * MB)

  // Native memory grew, which no collection gives back: each futile collection doubles the wait.
  const gaps: number[] = []
  let last = clock.now()
  for (let i = 0; i < 7; i++) {
    proc.state.native += 20 * MB
    while (releaser.check() === null) clock.advance(1_000)
    gaps.push((clock.now() - last) / 60_000)
    last = clock.now()
  }
  t.same(gaps, [1, 2, 4, 8, 16, 16, 16])

  // Pooled pages again: the collection gives them back and the wait is a minute again.
  proc.state.pool = 30 * MB
  while (releaser.check() === null) clock.advance(1_000)
  proc.state.pool = 30 * MB
  clock.advance(16 * 60_000)
  t.equal(releaser.check(), 30 * MB)
  proc.state.pool = 30 * MB
  clock.advance(60_000)
  t.equal(releaser.check(), 30 * MB, 'back to one minute')
})

t.test('memory given back by itself lowers the mark growth is measured from', async (t) => {
  const clock = new TestClock(Date.parse('2026-12-07T12:00:00Z'))
  const proc = fakeProcess()
  const releaser = new MemoryReleaser({ clock, collect: proc.collect, read: proc.read })
  proc.state.native -= 20 * MB
  t.equal(releaser.check(), null)
  proc.state.pool = 16 * MB
  t.equal(releaser.check(), 16 * MB, 'measured from the lower mark')
})

t.test('it looks every 10 seconds on the clock it is given, and stops', async (t) => {
  const clock = new TestClock(Date.parse('2026-12-07T12:00:00Z'))
  const proc = fakeProcess()
  const releaser = new MemoryReleaser({ clock, collect: proc.collect, read: proc.read })
  releaser.start()
  proc.state.pool = 20 * MB
  clock.advance(9_999)
  t.equal(proc.state.collections, 0)
  clock.advance(1)
  t.equal(proc.state.collections, 1)
  releaser.stop()
  t.equal(clock.pending, 0, 'no timer left behind')
})

t.test("V8's memory-reducing collection: where it is needed, it gives pooled pages back", async (t) => {
  t.equal(memoryReducingCollection('11.3.244.8-node.33'), null, 'V8 before 12 (Node 20) gives them back itself: nothing to do')
  t.equal(memoryReducingCollection(''), null, 'an unknown runtime: nothing')
  t.type(memoryReducingCollection('12.4.254.21-node.57'), 'function', 'V8 12 (Node 22) keeps them too')
  const collect = memoryReducingCollection()
  t.equal((globalThis as { gc?: unknown }).gc, undefined, 'no global gc for the rest of the process')
  const v8Major = Number(/^\d+/.exec(process.versions.v8)![0])
  if (v8Major < 12) {
    t.equal(collect, null, `V8 ${process.versions.v8}: not needed`)
    return
  }
  t.type(collect, 'function')
  // 60 MB of objects, then garbage: a collection empties their pages into V8's pool, still resident.
  let keep: unknown[][] = []
  for (let round = 0; round < 12; round++) {
    keep.push(Array.from({ length: 200_000 }, (_, i) => ({ i, s: `x${i}` })))
    if (keep.length > 3) keep.shift()
  }
  keep = []
  const before = process.memoryUsage().rss
  collect!()
  const after = process.memoryUsage().rss
  t.ok(before - after > 20 * MB, `gave back ${Math.round((before - after) / MB)} MB`)
})
