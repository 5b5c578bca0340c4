import { FST_REDIS_CONFIG } from './errors'
import { LATENCY_BUCKETS_MS, type ConnectionMetrics } from './metrics'
import type { MetricsRegistry } from './options'

interface Sample { metricName?: string, labels: Record<string, string | number>, value: number }
type Kind = 'counter' | 'gauge' | 'histogram'

/**
 * A collector in prom-client's sense: the registry calls `get()` at each
 * scrape, which reads the plain counters of every connection registered in
 * it, so counting costs nothing more per command. (prom-client's own
 * Histogram cannot be given bucket counts from outside, hence objects of the
 * shape its Registry reads rather than its metric classes.)
 */
class Collector {
  readonly aggregator = 'sum'

  constructor (
    readonly name: string,
    readonly help: string,
    readonly type: Kind,
    private readonly connections: ReadonlySet<ConnectionMetrics>,
    private readonly read: (m: ConnectionMetrics, name: string) => Sample[]
  ) {}

  async get (): Promise<{ name: string, help: string, type: Kind, aggregator: string, values: Sample[] }> {
    const values: Sample[] = []
    for (const m of this.connections) values.push(...this.read(m, this.name))
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** `registry.resetMetrics()`: the counters are the connection's own, left alone. */
  reset (): void {}
}

const one = (value: (m: ConnectionMetrics) => number) => (m: ConnectionMetrics): Sample[] => [{ labels: { connection: m.name }, value: value(m) }]

function histogram (m: ConnectionMetrics, name: string): Sample[] {
  const labels = { connection: m.name }
  const samples: Sample[] = []
  let running = 0
  // Read at scrape time: ./metrics imports this module (a cycle at load time).
  LATENCY_BUCKETS_MS.forEach((ms, i) => {
    running += m.buckets[i]
    samples.push({ metricName: `${name}_bucket`, labels: { ...labels, le: ms / 1000 }, value: running })
  })
  const count = running + m.buckets[LATENCY_BUCKETS_MS.length]
  samples.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count })
  samples.push({ metricName: `${name}_sum`, labels, value: m.sumMs / 1000 })
  samples.push({ metricName: `${name}_count`, labels, value: count })
  return samples
}

const DEFINITIONS: ReadonlyArray<[name: string, help: string, type: Kind, read: (m: ConnectionMetrics, name: string) => Sample[]]> = [
  ['redis_commands_total', 'Commands sent, per connection (a MULTI or pipeline exec() counts once)', 'counter', one((m) => m.commands)],
  ['redis_command_errors_total', 'Commands that failed, per connection and error class', 'counter',
    (m) => [...m.errors].map(([error, value]) => ({ labels: { connection: m.name, error }, value }))],
  ['redis_command_duration_seconds', 'Command latency, from the call to its answer or failure', 'histogram', histogram],
  ['redis_reconnects_total', 'Times the connection came back after it was lost', 'counter', one((m) => m.reconnects)],
  ['redis_up', '1 while the connection is ready, 0 otherwise', 'gauge', one((m) => m.state === 'ready' ? 1 : 0)],
  ['redis_down_seconds_total', 'Seconds the connection spent down, the current outage included', 'counter', one((m) => m.downTime() / 1000)],
  ['redis_subscriber_channels', 'Channels and patterns a subscriber connection holds now', 'gauge', one((m) => m.channels)],
  ['redis_subscriber_messages_total', 'Messages a subscriber connection received', 'counter', one((m) => m.messages)]
]

/** The connections reported in each registry; its collectors exist while the set is not empty. */
const reported = new WeakMap<MetricsRegistry, Set<ConnectionMetrics>>()

/**
 * Reports `metrics` in `registry`, under the same metric names as every
 * other connection there (labelled `connection="<name>"`); returns what stops
 * reporting it, and removes the collectors with the last connection.
 */
export function register (registry: MetricsRegistry, metrics: ConnectionMetrics): () => void {
  let connections = reported.get(registry)
  if (connections === undefined) {
    for (const [name] of DEFINITIONS) {
      if (registry.getSingleMetric(name) !== undefined) {
        throw new FST_REDIS_CONFIG(`connection "${metrics.name}": option "metrics": the registry already has a metric named ${name} that is not this plugin's`)
      }
    }
    const set = connections = new Set()
    for (const [name, help, type, read] of DEFINITIONS) registry.registerMetric(new Collector(name, help, type, set, read))
    reported.set(registry, set)
  }
  connections.add(metrics)
  return () => {
    const set = reported.get(registry)
    if (set?.delete(metrics) !== true || set.size > 0) return
    reported.delete(registry)
    for (const [name] of DEFINITIONS) registry.removeSingleMetric(name)
  }
}
