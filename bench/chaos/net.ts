// Network namespaces of the run's own: the chaos process runs in a client
// namespace, one redis-server in a server namespace, a veth pair between
// them. Faults change only these namespaces' links: nothing outside them (no
// host interface, route or address) is touched, and their loopbacks are not
// the host's, so 127.0.0.1:6379 of the host cannot be reached from inside.
import { spawnSync } from 'node:child_process'

export interface NetNames {
  client: string
  server: string
  clientIf: string
  serverIf: string
  clientIp: string
  serverIp: string
}

function ip (args: string[]): { ok: boolean, output: string } {
  const run = spawnSync('ip', args, { encoding: 'utf8' })
  return { ok: run.status === 0, output: `${run.stdout ?? ''}${run.stderr ?? ''}${run.error?.message ?? ''}`.trim() }
}

function tc (netns: string, args: string[]): { ok: boolean, output: string } {
  return ip(['netns', 'exec', netns, 'tc', ...args])
}

/** Names for this process's pair, and a /30 inside it (only these two namespaces ever see it). */
export function netNames (pid: number): NetNames {
  const third = pid % 250
  return {
    client: `fnrchaos${pid}c`,
    server: `fnrchaos${pid}s`,
    clientIf: `fnrc${pid % 100000}c`,
    serverIf: `fnrc${pid % 100000}s`,
    clientIp: `10.213.${third}.1`,
    serverIp: `10.213.${third}.2`
  }
}

/** Why namespaces cannot be made here (not root, no iproute2), or undefined when they can. */
export function netnsUnavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'not root'
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) return `ip netns unavailable (${probe.error?.message ?? probe.stderr.trim()})`
  return undefined
}

/** Creates both namespaces and the veth pair; throws (after cleaning up) when the kernel refuses. */
export function setUpNetns (n: NetNames): void {
  const steps: string[][] = [
    ['netns', 'add', n.client],
    ['netns', 'add', n.server],
    // Created inside the client namespace and moved: the host never holds either end.
    ['netns', 'exec', n.client, 'ip', 'link', 'add', n.clientIf, 'type', 'veth', 'peer', 'name', n.serverIf, 'netns', n.server],
    ['netns', 'exec', n.client, 'ip', 'link', 'set', 'lo', 'up'],
    ['netns', 'exec', n.server, 'ip', 'link', 'set', 'lo', 'up'],
    ['netns', 'exec', n.client, 'ip', 'addr', 'add', `${n.clientIp}/30`, 'dev', n.clientIf],
    ['netns', 'exec', n.server, 'ip', 'addr', 'add', `${n.serverIp}/30`, 'dev', n.serverIf],
    ['netns', 'exec', n.client, 'ip', 'link', 'set', n.clientIf, 'up'],
    ['netns', 'exec', n.server, 'ip', 'link', 'set', n.serverIf, 'up']
  ]
  for (const step of steps) {
    const run = ip(step)
    if (!run.ok) {
      tearDownNetns(n)
      throw new Error(`ip ${step.join(' ')} failed: ${run.output}`)
    }
  }
}

/** Deletes both namespaces (the veth pair goes with them). Safe to call twice. */
export function tearDownNetns (n: NetNames): void {
  ip(['netns', 'del', n.client])
  ip(['netns', 'del', n.server])
}

export type NetFaultKind = 'blackhole' | 'delay'

/**
 * What the kernel offers for a delay: netem when it has sch_netem, else a
 * token bucket so slow that the queue holds packets up to 500 ms (and drops
 * beyond): a slow, lossy link rather than a fixed delay.
 */
export function delayMethod (n: NetNames): 'netem' | 'tbf' | 'none' {
  const probe = tc(n.server, ['qdisc', 'add', 'dev', n.serverIf, 'root', 'netem', 'delay', '1ms'])
  if (probe.ok) {
    tc(n.server, ['qdisc', 'del', 'dev', n.serverIf, 'root'])
    return 'netem'
  }
  const tbf = tc(n.server, ['qdisc', 'add', 'dev', n.serverIf, 'root', 'tbf', 'rate', '32kbit', 'burst', '1600', 'latency', '500ms'])
  if (tbf.ok) {
    tc(n.server, ['qdisc', 'del', 'dev', n.serverIf, 'root'])
    return 'tbf'
  }
  return 'none'
}

/**
 * A black hole: netem `loss 100%` on both ends when available, else the
 * server end of the veth set down (the client end loses its carrier): every
 * packet is dropped, no reset, no ICMP, connections stay open.
 */
export function startNetFault (n: NetNames, kind: NetFaultKind, method: 'netem' | 'tbf' | 'none'): string {
  if (kind === 'blackhole') {
    if (method === 'netem') {
      tc(n.server, ['qdisc', 'replace', 'dev', n.serverIf, 'root', 'netem', 'loss', '100%'])
      ip(['netns', 'exec', n.client, 'tc', 'qdisc', 'replace', 'dev', n.clientIf, 'root', 'netem', 'loss', '100%'])
      return 'netem loss 100%'
    }
    ip(['netns', 'exec', n.server, 'ip', 'link', 'set', n.serverIf, 'down'])
    return 'veth down'
  }
  if (method === 'netem') {
    tc(n.server, ['qdisc', 'replace', 'dev', n.serverIf, 'root', 'netem', 'delay', '500ms'])
    return 'netem delay 500ms'
  }
  tc(n.server, ['qdisc', 'replace', 'dev', n.serverIf, 'root', 'tbf', 'rate', '32kbit', 'burst', '1600', 'latency', '500ms'])
  return 'tbf 32kbit latency 500ms'
}

export function endNetFault (n: NetNames): void {
  tc(n.server, ['qdisc', 'del', 'dev', n.serverIf, 'root'])
  ip(['netns', 'exec', n.client, 'tc', 'qdisc', 'del', 'dev', n.clientIf, 'root'])
  ip(['netns', 'exec', n.server, 'ip', 'link', 'set', n.serverIf, 'up'])
}
