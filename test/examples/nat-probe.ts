// Measure the network with a STUN server and classify it (README "NAT probe", library use).
// Here the STUN server runs in-process on loopback; point stunServers at a public one
// (an RFC 5780 server with two addresses first) and reflectors at a relay to measure for real.
import { createStunServer, probeNetwork } from 'iicp-relay-toolkit/nat'

const stun = createStunServer({ primary: { address: '127.0.0.1', port: 0 } })
const { primary } = await stun.listen()
try {
  const report = await probeNetwork({
    stunServers: [{ host: primary.address, port: primary.port }],
    reflectors: [],
    upnp: false,
    ipv6: false,
    signal: AbortSignal.timeout(10_000)
  })
  console.log(report.exposure_mode, report.nat_type)
} finally {
  await stun.close()
}
