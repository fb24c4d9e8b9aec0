import { deflateSync } from 'node:zlib'

// The sample picture a demo customer can text: drawn here, so the repository needs no binary file.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(data: Buffer): number {
  let c = 0xffffffff
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** Encodes RGB pixels (`rgb(x, y)` for each pixel) as a PNG file. */
export function encodePng(width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): Buffer {
  const rows = Buffer.alloc((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1) // each row starts with filter type 0
    for (let x = 0; x < width; x++) rows.set(rgb(x, y), row + 1 + x * 3)
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8 bits per channel, truecolour, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

/** A parcel on a doorstep at sunset, 240 x 160: what a customer might text to show a delivery. */
export function samplePicture(): Buffer {
  const mix = (a: number, b: number, t: number) => Math.round(a + (b - a) * t)
  return encodePng(240, 160, (x, y) => {
    // The parcel: a brown box with a tape stripe.
    if (x >= 92 && x < 148 && y >= 92 && y < 136) return x >= 116 && x < 124 ? [222, 196, 140] : [176, 124, 74]
    // The step, then the ground.
    if (y >= 136) return y < 144 ? [150, 150, 160] : [86, 120, 72]
    // The sun.
    if ((x - 188) ** 2 + (y - 48) ** 2 < 22 ** 2) return [255, 214, 102]
    // The sky, from blue to orange.
    const t = y / 136
    return [mix(70, 250, t), mix(110, 170, t), mix(190, 120, t)]
  })
}
