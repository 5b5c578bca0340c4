import { show } from './errors'
import type { MetricsRegistry } from './options'
import type { Source } from './source'

/** Whether a value can be given metrics to report: it has what the plugin calls on a prom-client Registry. */
function isRegistry (value: unknown): value is MetricsRegistry {
  const r = value as Partial<Record<keyof MetricsRegistry, unknown>> | null
  return typeof r === 'object' && r !== null && typeof r.registerMetric === 'function' &&
    typeof r.getSingleMetric === 'function' && typeof r.removeSingleMetric === 'function' && typeof r.metrics === 'function'
}

/** Option `metrics` (a boolean or a prom-client Registry) or its config key (a boolean), resolved; false when off. */
export function metricsOptionOf (source: Source): boolean | MetricsRegistry {
  const option = source.options.metrics
  if (isRegistry(option)) return option
  if (typeof option === 'object' && option !== null) {
    source.fail('option "metrics"', `must be a boolean or a prom-client Registry (with registerMetric(), getSingleMetric(), removeSingleMetric() and metrics()), got ${show(option)}`)
  }
  return source.boolean('metrics') ?? false
}
