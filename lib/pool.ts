import type * as Redis from 'redis'
import type { RedisFunctions, RedisModules, RedisScripts } from 'redis'

type Installed = typeof Redis

/** node-redis's createClientPool, where the installed major has it (5 and later). */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- only its type is used; the fallback's type parameters take RedisClientPool's arguments on 4
declare const createClientPool: Installed extends { createClientPool: infer Create } ? Create : <M, F, S, RESP>() => never

/** The RESP version of the installed major's default client (2 on 5, 3 on 6). */
type DefaultResp = NonNullable<Redis.RedisClientType['options']> extends { RESP?: infer R } ? NonNullable<R> : never

/**
 * The type of a client pool the plugin builds (option `pool`, node-redis 5
 * and later): `RedisClientPool` for the default,
 * `RedisClientPool<typeof modules, typeof functions, typeof scripts>` when
 * `clientOptions` adds modules, functions or scripts. `never` with
 * node-redis 4, which has no client pools.
 */
export type RedisClientPool<
  M extends RedisModules = {},
  F extends RedisFunctions = {},
  S extends RedisScripts = {}
> = ReturnType<typeof createClientPool<M, F, S, DefaultResp>>
