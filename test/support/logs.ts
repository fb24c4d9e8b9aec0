import { Writable } from 'node:stream'

/** Every line the app logged, as written: tests assert nothing sensitive reaches them. */
export class LogCapture extends Writable {
  readonly lines: string[] = []
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    done()
  }
  get text(): string {
    return this.lines.join('\n')
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l))
  }
}
