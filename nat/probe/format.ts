/**
 * Human-readable rendering of an `iicp-nat-probe/v1` report: one line per probe
 * (✓ worked, ✗ failed, ○ skipped or not applicable) with value and source, then a summary.
 */
import type { ProbeReport } from '../index.ts'

type Mark = '✓' | '✗' | '○'

function line (mark: Mark, label: string, text: string): string {
  return `${mark} ${label.padEnd(16)}${text}`
}

function yesNo (v: boolean | null | undefined): string {
  return v === null || v === undefined ? 'not measured' : v ? 'yes' : 'no'
}

/** Renders the per-probe lines and the summary block. */
export function formatProbeReport (r: ProbeReport): string {
  const out: string[] = []
  out.push(`iicp-nat probe: port ${r.inputs.port}, ${(r.duration_ms / 1000).toFixed(1)} s${r.inputs.map ? (r.inputs.keep ? ', --map --keep' : ', --map') : ', read-only'}`)

  const v4 = r.ipv4.local_addresses.map(a => `${a.address} (${a.interface}, ${a.range})`)
  out.push(line(v4.length > 0 ? '✓' : '○', 'interfaces', v4.length > 0 ? v4.join(', ') : 'no non-loopback IPv4 address'))
  for (const a of r.local_addresses.filter(x => !x.used && x.range !== 'loopback')) out.push(line('○', 'skipped', `${a.address} (${a.interface}): ${a.reason}`))
  out.push(line(r.ipv4.public_on_interface.length > 0 ? '✓' : '○', 'public on iface', r.ipv4.public_on_interface.length > 0 ? r.ipv4.public_on_interface.join(', ') : 'none'))

  const nb = r.nat_behavior
  if (nb.error !== null) {
    out.push(line(nb.error === 'STUN disabled' ? '○' : '✗', 'stun', nb.error))
  } else if (nb.udp_blocked) {
    out.push(line('✗', 'stun', `no answer from any of ${r.inputs.stun_servers.join(', ')}: outbound UDP is blocked`))
  } else {
    const via = nb.stun_servers.find(s => s.responded)
    const sure = nb.confidence.filtering === 'low' ? ` (low confidence: ${nb.confidence.filtering_agreeing} of ${nb.confidence.filtering_rounds} rounds agree)` : ''
    out.push(line('✓', 'stun', `mapped ${nb.mapped_address ?? '?'} via ${via?.configured ?? '?'} (${nb.method}); mapping ${nb.mapping}, filtering ${nb.filtering}${sure}`))
  }
  if (!nb.udp_blocked && nb.error === null) {
    out.push(line(nb.hairpinning === null ? '○' : nb.hairpinning ? '✓' : '✗', 'hairpinning', yesNo(nb.hairpinning)))
    out.push(line(nb.port_preserving === null ? '○' : '✓', 'port preserving', yesNo(nb.port_preserving)))
  }

  const hc = r.cgnat.hop_check
  if (!hc.ran) out.push(line('○', 'carrier hop', `not checked: ${hc.error ?? 'unknown'}`))
  else {
    const hops = hc.hops.map(h => `${h.ttl} ${h.address ?? '*'}`).join(', ')
    out.push(line(hc.carrier_hop === null ? '✓' : '✗', 'carrier hop', hc.carrier_hop === null
      ? `no 100.64.0.0/10 hop toward ${hc.target ?? '?'} (${hc.tool ?? ''}: ${hops})`
      : `hop ${hc.carrier_hop.ttl} ${hc.carrier_hop.address ?? ''} is in 100.64.0.0/10: carrier-grade NAT (${hops})`))
  }

  const pm = r.port_mapping
  if (!r.inputs.upnp) {
    out.push(line('○', 'port mapping', 'disabled (--no-upnp)'))
  } else {
    if (pm.igd !== null) out.push(line('✓', 'upnp-igd', `${pm.igd.friendly_name ?? 'IGD'} at ${pm.igd.location} (${pm.igd.service_type ?? 'no WAN service'})`))
    else out.push(line('✗', 'upnp-igd', pm.discovery_errors.upnp ?? 'not found'))
    if (!r.inputs.natpmp) out.push(line('○', 'nat-pmp', 'disabled'))
    else if (pm.natpmp !== null) out.push(line('✓', 'nat-pmp', `gateway ${pm.natpmp.gateway}, external ${pm.natpmp.external_ip}`))
    else out.push(line('✗', 'nat-pmp', pm.discovery_errors.natpmp ?? 'no answer'))
    if (pm.external_ip !== null) out.push(line('✓', 'gateway WAN', `${pm.external_ip} (${pm.protocol ?? ''})`))
  }
  for (const m of pm.mappings) {
    const state = m.kept ? 'kept' : m.deleted ? 'deleted' : `NOT deleted: ${m.error ?? '?'}; remove it with: ${m.remove_command ?? '?'}`
    out.push(line(m.verified === false || (!m.kept && !m.deleted) ? '✗' : '✓', 'mapping', `${m.protocol} external ${m.external_port} -> ${m.internal_host}:${m.internal_port} via ${m.via}, lease ${m.lease_s} s, ${state}`))
  }
  if (r.inputs.map && pm.mappings.length === 0) out.push(line('✗', 'mapping', pm.error ?? 'no gateway to map on'))
  out.push(line(r.ipv4.wan_ip.value === null ? '○' : '✓', 'wan ip', r.ipv4.wan_ip.value === null
    ? 'unknown'
    : `${r.ipv4.wan_ip.value} (${r.ipv4.wan_ip.sources.map(s => `${s.source} ${s.value}`).join(', ')}${r.ipv4.wan_ip.consistent ? '' : '; INCONSISTENT'})`))

  const v6 = r.ipv6
  if (!v6.enabled) out.push(line('○', 'ipv6', 'disabled (--no-v6)'))
  else if (!v6.global_v6_available) out.push(line('○', 'ipv6', 'no usable global address'))
  else {
    out.push(line('✓', 'ipv6', `${v6.addresses.join(', ')}${v6.stable_v6_available ? '' : ' (temporary only)'}; listener ${yesNo(v6.listener_v6_ok)}`))
    if (v6.firewall !== null) out.push(line(v6.firewall.error === null ? '✓' : '✗', 'ipv6 firewall', v6.firewall.error ?? `enabled ${yesNo(v6.firewall.firewall_enabled)}, pinholes allowed ${yesNo(v6.firewall.inbound_pinhole_allowed)} (${v6.firewall.location})`))
    else if (r.inputs.upnp) out.push(line('○', 'ipv6 firewall', r.port_mapping.discovery_errors.upnp6 ?? 'no IGD firewall control found'))
    if (v6.pinhole !== null) {
      const p = v6.pinhole
      out.push(line(p.unique_id === null ? '✗' : '✓', 'pinhole', p.unique_id === null ? (p.error ?? 'failed') : `[${p.address}]:${p.port} id ${p.unique_id}, lease ${p.lease_s ?? '?'} s, ${p.kept ? 'kept' : p.deleted ? 'deleted' : `NOT deleted: ${p.error ?? '?'}; remove it with: ${p.remove_command ?? '?'}`}`))
    }
  }

  if (r.reachability_checks.length === 0) out.push(line('○', 'reflector', 'none given (--reflector URL): direct paths stay self-attested'))
  for (const c of r.reachability_checks) {
    const label = `reflector v${c.family ?? '?'}`
    const weak = c.reachable && c.counted_as !== 'reachable'
      ? `; counted as ${c.counted_as}: the dial-back came from ${c.dialed_from ?? 'an unknown address'}, an address this host had contacted`
      : ''
    const text = c.reachable
      ? `reachable at ${c.target ?? '?'} (${c.latency_ms ?? '?'} ms, nonce verified) via ${c.via}${weak}`
      : `not reachable${c.target === null ? '' : ` at ${c.target}`}: ${c.error ?? 'unknown'} (${c.reflector})`
    out.push(line(c.reachable && weak === '' ? '✓' : '✗', label, text))
  }

  out.push('')
  out.push('summary')
  const row = (k: string, v: string): void => { out.push(`  ${k.padEnd(16)}${v}`) }
  row('exposure mode', `${r.exposure_mode} (${r.verification === 'verified' ? 'verified' : 'self-attested'})`)
  row('NAT type', r.nat_type)
  row('mapping', nb.mapping)
  row('filtering', nb.filtering)
  row('CGNAT', r.cgnat.detected ? `yes: ${r.cgnat.evidence.map(e => e.detail).join('; ')}` : 'no evidence')
  row('double NAT', r.double_nat ? 'yes' : 'no')
  row('IPv6', !v6.enabled ? 'disabled' : v6.global_v6_available ? `${v6.addresses[0] ?? ''}; inbound ${v6.inbound_verified === null ? 'not tested' : v6.inbound_verified ? 'verified' : 'not reachable'}` : 'none')
  row('recommended', r.recommended_transport_method)
  row('ladder', r.ladder.join(' → '))
  if (r.advertised_endpoint !== null) row('endpoint', r.advertised_endpoint)
  row('recommendation', r.recommendation)
  for (const e of r.errors) row('error', e)
  return `${out.join('\n')}\n`
}
