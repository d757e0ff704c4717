/**
 * A NAT-PMP (RFC 6886) responder on 127.0.0.1, port 0, for tests: answers external-address
 * and map requests, keeps mappings, and can drop the first N requests (to exercise
 * retransmission) or answer with a result code.
 */
import { createSocket } from 'node:dgram'

/** Options for {@link startFakeNatPmp}. */
export interface FakeNatPmpOptions {
  /** External address reported. @default '203.0.113.9' */
  externalIp?: string
  /** Drop this many requests before answering. @default 0 */
  dropFirst?: number
  /** Answer every request with this result code (0 = success). @default 0 */
  resultCode?: number
  /** Never answer. @default false */
  silent?: boolean
}

/** The running responder. */
export interface FakeNatPmp {
  /** UDP port. */
  port: number
  /** Requests received (including dropped ones). */
  requests: Array<{ op: number, at: number }>
  /** Mappings by `op/internalPort`: external port and lifetime. */
  mappings: Map<string, { externalPort: number, lifetime: number }>
  /** Stops the responder. */
  close: () => Promise<void>
}

/** Starts the responder. */
export async function startFakeNatPmp (options: FakeNatPmpOptions = {}): Promise<FakeNatPmp> {
  const socket = createSocket('udp4')
  const requests: FakeNatPmp['requests'] = []
  const mappings: FakeNatPmp['mappings'] = new Map()
  const epoch = 1234
  let dropped = 0
  socket.on('error', () => undefined)
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 2 || msg.readUInt8(0) !== 0) return
    const op = msg.readUInt8(1)
    requests.push({ op, at: Date.now() })
    if (options.silent === true) return
    if (dropped < (options.dropFirst ?? 0)) {
      dropped++
      return
    }
    const result = options.resultCode ?? 0
    let res: Buffer
    if (op === 0) {
      res = Buffer.alloc(12)
      const ip = (options.externalIp ?? '203.0.113.9').split('.').map(Number)
      ip.forEach((b, i) => { res.writeUInt8(b, 8 + i) })
    } else if ((op === 1 || op === 2) && msg.length >= 12) {
      const internalPort = msg.readUInt16BE(4)
      const requested = msg.readUInt16BE(6)
      const lifetime = msg.readUInt32BE(8)
      res = Buffer.alloc(16)
      res.writeUInt16BE(internalPort, 8)
      if (lifetime === 0) {
        mappings.delete(`${op}/${internalPort}`)
        res.writeUInt16BE(0, 10)
      } else {
        const ext = requested === 0 ? 40000 + internalPort % 1000 : requested
        mappings.set(`${op}/${internalPort}`, { externalPort: ext, lifetime: Math.min(lifetime, 3600) })
        res.writeUInt16BE(ext, 10)
        res.writeUInt32BE(Math.min(lifetime, 3600), 12)
      }
    } else {
      return
    }
    res.writeUInt8(0, 0)
    res.writeUInt8(128 + op, 1)
    res.writeUInt16BE(result, 2)
    res.writeUInt32BE(epoch, 4)
    socket.send(res, rinfo.port, rinfo.address)
  })
  await new Promise<void>(resolve => socket.bind(0, '127.0.0.1', () => { resolve() }))
  return {
    port: socket.address().port,
    requests,
    mappings,
    close: async () => { await new Promise<void>(resolve => socket.close(() => { resolve() })) }
  }
}
