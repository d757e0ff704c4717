/** The relay's Prometheus metrics (relay/metrics.ts): hot-path counts reach the counters at each scrape, once. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRelayMetrics } from '../../relay/metrics.ts'

/** The value of one series in a scrape. */
function series (text: string, name: string): number {
  const line = text.split('\n').find(l => l.startsWith(`${name} `))
  assert.ok(line !== undefined, `${name} in the scrape`)
  return Number(line.slice(name.length + 1))
}

describe('relay metrics', () => {
  it('counts calls and bytes between scrapes without losing or repeating any', async () => {
    const m = createRelayMetrics({ sessions: () => 2, pendingConnections: () => 0, maxSessions: 10 })
    let text = await m.registry.metrics()
    assert.equal(series(text, 'iicp_relay_calls_total{outcome="ok"}'), 0)
    assert.equal(series(text, 'iicp_relay_bytes_total{direction="in"}'), 0)
    for (let i = 0; i < 3; i++) m.call('ok', 0.002)
    m.call('timeout', 30)
    m.call('busy')
    m.bytesIn(10)
    m.bytesIn(5)
    m.bytesOut(7)
    text = await m.registry.metrics()
    assert.equal(series(text, 'iicp_relay_calls_total{outcome="ok"}'), 3)
    assert.equal(series(text, 'iicp_relay_calls_total{outcome="timeout"}'), 1)
    assert.equal(series(text, 'iicp_relay_calls_total{outcome="busy"}'), 1)
    assert.equal(series(text, 'iicp_relay_bytes_total{direction="in"}'), 15)
    assert.equal(series(text, 'iicp_relay_bytes_total{direction="out"}'), 7)
    // A busy call has no duration: four observations.
    assert.equal(series(text, 'iicp_relay_call_duration_seconds_count'), 4)
    assert.equal(series(text, 'iicp_relay_sessions'), 2)
    // Read again with nothing new: the same totals; then more on top.
    text = await m.registry.metrics()
    assert.equal(series(text, 'iicp_relay_calls_total{outcome="ok"}'), 3)
    assert.equal(series(text, 'iicp_relay_bytes_total{direction="in"}'), 15)
    m.call('ok', 0.001)
    m.bytesIn(1)
    text = await m.registry.metrics()
    assert.equal(series(text, 'iicp_relay_calls_total{outcome="ok"}'), 4)
    assert.equal(series(text, 'iicp_relay_bytes_total{direction="in"}'), 16)
  })

  it('shows every call duration in a scrape, exact in count, sum and buckets, across the hot-path batches', async () => {
    const m = createRelayMetrics({ sessions: () => 0, pendingConnections: () => 0, maxSessions: 10 })
    // 1,300 durations: more than two batches of the recorder, the last one partly filled.
    for (let i = 0; i < 1_000; i++) m.call('ok', 0.002)
    for (let i = 0; i < 300; i++) m.call('worker_error', 0.2)
    let text = await m.registry.metrics()
    assert.equal(series(text, 'iicp_relay_call_duration_seconds_count'), 1_300)
    assert.ok(Math.abs(series(text, 'iicp_relay_call_duration_seconds_sum') - (1_000 * 0.002 + 300 * 0.2)) < 1e-9)
    assert.equal(series(text, 'iicp_relay_call_duration_seconds_bucket{le="0.001"}'), 0)
    assert.equal(series(text, 'iicp_relay_call_duration_seconds_bucket{le="0.0025"}'), 1_000)
    assert.equal(series(text, 'iicp_relay_call_duration_seconds_bucket{le="0.25"}'), 1_300)
    // Nothing counted twice by a second read; one more shows at once.
    m.call('ok', 0.002)
    text = await m.registry.metrics()
    assert.equal(series(text, 'iicp_relay_call_duration_seconds_count'), 1_301)
  })
})
