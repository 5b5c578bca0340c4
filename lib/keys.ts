import type { FastifyNodeRedisOptions } from './options'

/**
 * Every top-level option, with the suffix of its config key (`null`: no
 * config key). The one table to extend when an option is added: the compiler
 * insists that it lists exactly the options of FastifyNodeRedisOptions, the
 * unknown-option check and the config-key warnings read it, and CONFIG_KEYS
 * (and with it the env schema) is derived from it.
 */
export const OPTIONS = {
  prefix: null,
  url: 'URL',
  host: 'HOST',
  port: 'PORT',
  db: 'DB',
  username: 'USERNAME',
  password: 'PASSWORD',
  unixSocketPath: 'UNIX_SOCKET_PATH',
  tls: 'TLS',
  connectTimeout: 'CONNECT_TIMEOUT',
  closeTimeout: 'CLOSE_TIMEOUT',
  commandTimeout: 'COMMAND_TIMEOUT',
  clientClass: 'CLASS',
  clientOptions: null,
  lazyConnect: 'LAZY_CONNECT',
  metrics: 'METRICS',
  clusterNodes: 'CLUSTER_NODES',
  clusterOptions: null,
  pool: 'POOL',
  subscriber: 'SUBSCRIBER',
  sameAs: 'SAME_AS',
  sentinelNodes: 'SENTINEL_NODES',
  sentinelName: 'SENTINEL_NAME',
  sentinelUsername: 'SENTINEL_USERNAME',
  sentinelPassword: 'SENTINEL_PASSWORD',
  sentinelOptions: null,
  client: null,
  closeClient: null,
  config: null
} as const satisfies { readonly [K in keyof Required<FastifyNodeRedisOptions>]: string | null }

type Table = typeof OPTIONS
type Keyed = { [K in keyof Table]: Table[K] extends string ? K : never }[keyof Table]

/** The option → config-key-suffix table (the options that have a config key), shared with the env schema. */
export const CONFIG_KEYS = Object.freeze(Object.fromEntries(
  Object.entries(OPTIONS as Record<string, string | null>).filter((entry) => entry[1] !== null)
)) as { readonly [K in Keyed]: Table[K] }

/**
 * What Fastify and avvio themselves read from the options of `register()`
 * (fastify/lib/plugin-override.js): `prefix` (a route prefix for an
 * encapsulated plugin; this plugin is not encapsulated, so `prefix` is free to
 * be its own option), `logLevel` and `logSerializers`. They are not unknown.
 * avvio also reads `name`, but only to name a plugin without fastify-plugin
 * metadata; this one has it, so `name` would do nothing and gets a hint.
 */
const REGISTER_OPTIONS: ReadonlySet<string> = new Set(['logLevel', 'logSerializers'])

const CLIENT_OPTION = 'is a node-redis client option: put it in clientOptions'
const CLUSTER_OPTION = 'is a node-redis cluster option: put it in clusterOptions (with clusterNodes)'

/** What a user of @fastify/redis, ioredis or node-redis brings along, and what to use here instead. */
const HINTS: Readonly<Record<string, string>> = {
  namespace: 'is @fastify/redis\'s connection name: here the prefix names the connection (prefix: \'CACHE\' → fastify.redis.cache, config keys CACHE_*)',
  name: 'is not how a connection is named: the prefix names it (prefix: \'CACHE\' → fastify.redis.cache); for CLIENT SETNAME use clientOptions.name',
  connectionName: 'is ioredis\'s: use clientOptions.name (CLIENT SETNAME)',
  keyPrefix: 'is ioredis\'s: node-redis has no key prefix, prefix the keys in your code',
  maxRetriesPerRequest: 'is ioredis\'s: node-redis does not retry commands; here a command fails at once while the connection is down (clientOptions.disableOfflineQueue, default true) and a stalled one within 1.5 × commandTimeout',
  enableAutoPipelining: 'is ioredis\'s: node-redis already pipelines the commands sent in the same tick, there is nothing to enable',
  enableOfflineQueue: 'is ioredis\'s: use clientOptions.disableOfflineQueue (default true here: commands fail at once while the connection is down)',
  retryStrategy: 'is ioredis\'s: use clientOptions.socket.reconnectStrategy',
  reconnectOnError: 'is ioredis\'s: node-redis has no such hook; the plugin reopens a connection whose server stops answering (commandTimeout)',
  enableReadyCheck: 'is ioredis\'s: startup here always waits until a PING is answered (connectTimeout), unless lazyConnect',
  autoResubscribe: 'is ioredis\'s: node-redis resubscribes on reconnect by itself',
  timeout: 'is ambiguous: use connectTimeout (startup), commandTimeout (a stalled command) or closeTimeout (onClose)',
  database: 'is node-redis\'s name for it: use db (config key PREFIX_DB)',
  path: 'is ioredis\'s name for it: use unixSocketPath',
  socket: 'is node-redis\'s: use clientOptions.socket (where to connect is the plugin\'s own url, host, port, unixSocketPath and tls)',
  family: 'is a socket option: use clientOptions.socket.family',
  keepAlive: 'is a socket option: use clientOptions.socket.keepAlive',
  noDelay: 'is a socket option: use clientOptions.socket.noDelay',
  reconnectStrategy: 'is a socket option: use clientOptions.socket.reconnectStrategy',
  scripts: CLIENT_OPTION,
  modules: CLIENT_OPTION,
  functions: CLIENT_OPTION,
  pingInterval: CLIENT_OPTION,
  disableOfflineQueue: CLIENT_OPTION,
  isolationPoolOptions: CLIENT_OPTION,
  legacyMode: CLIENT_OPTION,
  readonly: CLIENT_OPTION,
  commandsQueueMaxLength: CLIENT_OPTION,
  disableClientInfo: CLIENT_OPTION,
  clientInfoTag: CLIENT_OPTION,
  RESP: CLIENT_OPTION,
  useReplicas: CLUSTER_OPTION,
  minimizeConnections: CLUSTER_OPTION,
  maxCommandRedirections: CLUSTER_OPTION,
  nodeAddressMap: CLUSTER_OPTION,
  defaults: CLUSTER_OPTION,
  rootNodes: 'is node-redis\'s: give the cluster nodes with clusterNodes (config key PREFIX_CLUSTER_NODES)',
  cluster: 'is not an option: a connection becomes a cluster client when clusterNodes (config key PREFIX_CLUSTER_NODES) is set',
  sentinels: 'is ioredis\'s: give the sentinels with sentinelNodes (config key PREFIX_SENTINEL_NODES) and the master group with sentinelName',
  sentinelRootNodes: 'is node-redis\'s: give the sentinels with sentinelNodes (config key PREFIX_SENTINEL_NODES)',
  sentinel: 'is not an option: a connection becomes a Sentinel client when sentinelNodes (config key PREFIX_SENTINEL_NODES) is set',
  subscribe: 'is not an option: a connection for SUBSCRIBE is registered with subscriber: true (config key PREFIX_SUBSCRIBER)',
  pubsub: 'is not an option: a connection for SUBSCRIBE is registered with subscriber: true (config key PREFIX_SUBSCRIBER)'
}

/** Edit distance with transpositions (optimal string alignment), for "did you mean". */
function distance (a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** The closest of `candidates` to `word`, if it is close enough to be a slip. */
function nearest (word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  const lower = word.toLowerCase()
  for (const candidate of candidates) {
    const d = candidate.toLowerCase() === lower ? 0 : distance(lower, candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  // One slip in a short name, up to three in a long one.
  return bestDistance <= Math.max(1, Math.min(3, Math.floor(word.length / 4))) ? best : undefined
}

/**
 * The problems with the top-level option names, one line each ("urll" is
 * unknown: did you mean "url"?), empty when every name is known.
 */
export function unknownOptions (options: object): string[] {
  const problems: string[] = []
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(OPTIONS, key) || REGISTER_OPTIONS.has(key)) continue
    const hint = Object.hasOwn(HINTS, key) ? HINTS[key] : undefined
    const near = hint === undefined ? nearest(key, Object.keys(OPTIONS)) : undefined
    problems.push(`option "${key}" is unknown${hint !== undefined ? `: it ${hint}` : near !== undefined ? `: did you mean "${near}"?` : ` (the options are ${Object.keys(OPTIONS).join(', ')})`}`)
  }
  return problems
}

/**
 * The keys of a config object that look meant for this connection but are
 * not read: they start with its prefix and "_" (in any case) and are not one
 * of its keys. A key that ends with a known suffix after a longer prefix
 * (REDIS_CACHE_URL next to prefix REDIS) belongs to another connection and is
 * left alone. One line per key, for a log warning.
 */
export function unreadConfigKeys (prefix: string, config: Record<string, unknown>): string[] {
  const start = `${prefix}_`
  const suffixes = Object.values(CONFIG_KEYS) as string[]
  const known = new Set(suffixes.map((suffix) => start + suffix))
  const warnings: string[] = []
  for (const key of Object.keys(config)) {
    const upper = key.toUpperCase()
    if (!upper.startsWith(start) || known.has(key)) continue
    if (known.has(upper)) {
      warnings.push(`config key ${key} is not read: config keys are upper-case, did you mean ${upper}?`)
      continue
    }
    if (suffixes.some((suffix) => upper.endsWith(`_${suffix}`))) continue
    const near = nearest(upper.slice(start.length), suffixes)
    warnings.push(`config key ${key} is not read${near !== undefined ? `: did you mean ${start}${near}?` : ` (the keys are ${start}${suffixes.join(`, ${start}`)})`}`)
  }
  return warnings
}
