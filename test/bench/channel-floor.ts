/**
 * The floor of the direct channel: node-datachannel itself, two peers in this process on
 * loopback, one reliable ordered channel, 1100-byte messages echoed with `concurrency` in flight;
 * no HTTP, no IICP framing, no process hops. Reports round trips per second, the p50 round trip
 * at concurrency 1, and the CPU per round trip of both peers together (all threads), so the
 * direct-channel rows of the bench can be read against what the library alone costs.
 */
import nodeDataChannel from 'node-datachannel'

const { PeerConnection, cleanup } = nodeDataChannel

/** One floor measurement. */
export interface ChannelFloor {
  concurrency: number
  roundTripsPerSec: number
  /** p50 of the round trips (meaningful at concurrency 1), ms. */
  p50Ms: number
  /** CPU of both peers per round trip, µs. */
  cpuUsPerRoundTrip: number
}

/** Echoes 1100-byte messages between two native peers for `durationMs`. */
export async function measureChannelFloor (concurrency: number, durationMs: number): Promise<ChannelFloor> {
  const config = { iceServers: [], bindAddress: '127.0.0.1' }
  const a = new PeerConnection('floor-a', config)
  const b = new PeerConnection('floor-b', config)
  try {
    a.onLocalDescription((sdp, type) => { if (type === 'offer') b.setRemoteDescription(sdp, type) })
    b.onLocalDescription((sdp, type) => { if (type === 'answer') a.setRemoteDescription(sdp, type) })
    a.onLocalCandidate((c, mid) => { b.addRemoteCandidate(c, mid) })
    b.onLocalCandidate((c, mid) => { a.addRemoteCandidate(c, mid) })
    b.onDataChannel(dc => { dc.onMessage(m => { dc.sendMessageBinary(m as Buffer) }) })
    const dc = a.createDataChannel('floor')
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { reject(new Error('the floor channel did not open within 10 s')) }, 10_000)
      dc.onOpen(() => { clearTimeout(t); resolve() })
    })
    const msg = Buffer.alloc(1100, 0x78)
    const rtts: number[] = []
    const sentAt: number[] = []
    let inFlight = 0
    const cpu0 = process.cpuUsage()
    const start = performance.now()
    await new Promise<void>(resolve => {
      dc.onMessage(() => {
        inFlight--
        const now = performance.now()
        rtts.push(now - (sentAt.shift() ?? now))
        if (now - start < durationMs) {
          sentAt.push(now)
          inFlight++
          dc.sendMessageBinary(msg)
        } else if (inFlight === 0) {
          resolve()
        }
      })
      for (let i = 0; i < concurrency; i++) {
        sentAt.push(performance.now())
        inFlight++
        dc.sendMessageBinary(msg)
      }
    })
    const seconds = (performance.now() - start) / 1000
    const cpu = process.cpuUsage(cpu0)
    rtts.sort((x, y) => x - y)
    dc.close()
    return { concurrency, roundTripsPerSec: rtts.length / seconds, p50Ms: rtts[Math.floor(rtts.length / 2)] ?? Number.NaN, cpuUsPerRoundTrip: (cpu.user + cpu.system) / Math.max(1, rtts.length) }
  } finally {
    a.close()
    b.close()
    cleanup()
  }
}
