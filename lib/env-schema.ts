import { FST_REDIS_CONFIG, show } from './errors'
import { CONFIG_KEYS } from './options'

const PREFIX = /^[A-Za-z][A-Za-z0-9_]*$/

const PROPERTY = {
  URL: { type: 'string', minLength: 1 },
  HOST: { type: 'string', minLength: 1 },
  PORT: { type: 'integer', minimum: 1, maximum: 65535 },
  DB: { type: 'integer', minimum: 0 },
  USERNAME: { type: 'string' },
  PASSWORD: { type: 'string' },
  UNIX_SOCKET_PATH: { type: 'string', minLength: 1 },
  TLS: { type: 'boolean' },
  CONNECT_TIMEOUT: { type: 'integer', minimum: 1 },
  CLOSE_TIMEOUT: { type: 'integer', minimum: 1 },
  COMMAND_TIMEOUT: { type: 'integer', minimum: 0 },
  CLASS: { type: 'string', minLength: 1 },
  LAZY_CONNECT: { type: 'boolean' },
  METRICS: { type: 'boolean' },
  CLUSTER_NODES: { type: 'string', minLength: 1 },
  POOL: { type: 'boolean' },
  SUBSCRIBER: { type: 'boolean' },
  SAME_AS: { type: 'string', minLength: 1 },
  SENTINEL_NODES: { type: 'string', minLength: 1 },
  SENTINEL_NAME: { type: 'string', minLength: 1 },
  SENTINEL_USERNAME: { type: 'string' },
  SENTINEL_PASSWORD: { type: 'string' }
} as const satisfies Record<(typeof CONFIG_KEYS)[keyof typeof CONFIG_KEYS], object>

type Suffix = keyof typeof PROPERTY
type Value<S extends Suffix> = (typeof PROPERTY)[S]['type'] extends 'integer' ? number
  : (typeof PROPERTY)[S]['type'] extends 'boolean' ? boolean : string

/**
 * The typed config object `@fastify/env` produces for these prefixes. Keys
 * use the upper-cased prefix: `RedisEnvConfig<'cache'>` has `CACHE_URL`.
 */
export type RedisEnvConfig<P extends string = 'REDIS'> = {
  [K in `${Uppercase<P>}_${Suffix}`]?: K extends `${Uppercase<P>}_${infer S extends Suffix}` ? Value<S> : never
}

/** The schema `redisEnvSchema(...prefixes)` returns; keys use the upper-cased prefixes. */
export interface RedisEnvSchema<P extends string> {
  type: 'object'
  properties: { [K in `${Uppercase<P>}_${Suffix}`]: { type: string, minLength?: number, minimum?: number, maximum?: number } }
}

/**
 * JSON schema of every `PREFIX_*` key, for `@fastify/env` / `env-schema`: use
 * it as the schema, or spread its `properties` into a larger one. The keys
 * use the upper-cased prefix, as the plugin reads them: `redisEnvSchema('cache')`
 * describes `CACHE_URL`, `CACHE_HOST`… No key is
 * required and none has a default, so the plugin's own defaults and the
 * precedence of explicit options still apply.
 */
export function redisEnvSchema<P extends string = 'REDIS'> (...prefixes: P[]): RedisEnvSchema<P> {
  const list: string[] = prefixes.length === 0 ? ['REDIS'] : prefixes
  const properties: Record<string, object> = {}
  for (const prefix of list) {
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
      throw new FST_REDIS_CONFIG(`redisEnvSchema(): prefix must match /^[A-Za-z][A-Za-z0-9_]*$/, got ${show(prefix)}`)
    }
    for (const suffix of Object.values(CONFIG_KEYS)) {
      properties[`${prefix.toUpperCase()}_${suffix}`] = { ...PROPERTY[suffix] }
    }
  }
  return { type: 'object', properties } as RedisEnvSchema<P>
}
