import type { RedisClusterType, RedisDefaultModules, RedisFunctions, RedisModules, RedisScripts } from 'redis'

/**
 * The type of a cluster client the plugin builds: `RedisCluster` for the
 * default, `RedisCluster<typeof modules, typeof functions, typeof scripts>`
 * when `clusterOptions` adds modules, functions or scripts. It follows the
 * installed node-redis major (RESP3 replies on 6).
 */
export type RedisCluster<
  M extends RedisModules = {},
  F extends RedisFunctions = {},
  S extends RedisScripts = {}
> = RedisClusterType<RedisDefaultModules & M, F, S>
