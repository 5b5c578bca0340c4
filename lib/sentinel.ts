import type * as Redis from 'redis'
import type { RedisFunctions, RedisModules, RedisScripts } from 'redis'

// node-redis 4 has no createSentinel: there, RedisSentinel is `never`.
type CreateSentinel = typeof Redis extends { createSentinel: infer C } ? C : <M, F, S>(options: [M, F, S]) => never
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- only its type is used
declare const create: CreateSentinel

/**
 * The type of a Sentinel client the plugin builds (node-redis 5 and later):
 * `RedisSentinel` for the default, `RedisSentinel<typeof modules, typeof
 * functions, typeof scripts>` when `sentinelOptions` adds modules, functions
 * or scripts. It follows the installed node-redis major (RESP3 replies on 6);
 * with node-redis 4 installed it is `never`, as Sentinel is refused there.
 */
export type RedisSentinel<
  M extends RedisModules = {},
  F extends RedisFunctions = {},
  S extends RedisScripts = {}
> = ReturnType<typeof create<M, F, S>>
