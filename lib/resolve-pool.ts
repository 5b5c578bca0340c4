import { show } from './errors'
import type { ConnectionSpec } from './options'
import { isPlainObject, type Source } from './source'

const MAX_TIMER = 2 ** 31 - 1
/** node-redis's own defaults, but for acquireTimeout (commandTimeout here, 3000 there). */
const DEFAULT_MAXIMUM = 100
const DEFAULT_CLEANUP_DELAY = 3000
const FIELDS = ['minimum', 'maximum', 'acquireTimeout', 'cleanupDelay']

/**
 * The client pool asked for by option `pool` (`true` or the settings) or its
 * config key (a boolean), resolved; undefined when there is none.
 */
export function poolOf (source: Source, commandTimeout: number): ConnectionSpec['pool'] {
  const option = source.options.pool
  const given = isPlainObject(option) ? option : undefined
  if (given === undefined && source.boolean('pool') !== true) return undefined
  const settings: Record<string, unknown> = given ?? {}
  for (const key of Object.keys(settings)) {
    if (!FIELDS.includes(key)) source.fail(`option "pool.${key}"`, `is unknown: the pool takes ${FIELDS.join(', ')}`)
  }
  const field = (key: string, min: number, max: number, fallback: number): number => {
    const value = settings[key]
    return value === undefined ? fallback : source.integerOf({ value, where: `option "pool.${key}"` }, min, max)
  }
  const minimum = field('minimum', 1, MAX_TIMER, 1)
  const maximum = field('maximum', 1, MAX_TIMER, DEFAULT_MAXIMUM)
  if (minimum > maximum) {
    source.fail('option "pool.minimum"', `must not exceed pool.maximum (${maximum}${settings.maximum === undefined ? ', the default' : ''}), got ${show(settings.minimum)}`)
  }
  return Object.freeze({
    minimum,
    maximum,
    acquireTimeout: field('acquireTimeout', 0, MAX_TIMER, commandTimeout),
    cleanupDelay: field('cleanupDelay', 0, MAX_TIMER, DEFAULT_CLEANUP_DELAY)
  })
}
