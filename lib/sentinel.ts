import type * as Redis from 'redis'
import type { RedisClientType, RedisFunctions, RedisModules, RedisScripts } from 'redis'

// node-redis 4 has no createSentinel: there, RedisSentinel is `never`.
type CreateSentinel = typeof Redis extends { createSentinel: infer C } ? C : <M, F, S, R, T>(options: [M, F, S, R, T]) => never
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- only its type is used
declare const create: CreateSentinel
/** The RESP version of the installed major's default client (2 on node-redis 5, 3 on 6); its type parameter has no default on 5. */
type DefaultResp = RedisClientType extends { options?: { RESP?: infer R } } ? NonNullable<R> : never

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
> = ReturnType<typeof create<M, F, S, DefaultResp, {}>>
