import type { ConnectionOptions as TlsOptions } from 'node:tls'
import type { RedisClientOptions, RedisClusterOptions } from 'redis'

/** A function that builds a client from node-redis options, or a class that does. */
export type ClientBuilder =
  | ((options: RedisClientOptions<any, any, any>) => unknown)
  | (new (options: RedisClientOptions<any, any, any>) => unknown)

/** A number, or a string holding one (as environment variables do): `6379` or `'6379'`. */
export type NumberLike = number | `${number}`

type BooleanWord = 'true' | 'false' | 'yes' | 'no'
/**
 * What a boolean option accepts: `true` / `false`, the numbers `1` / `0`, and
 * the strings `'true'` / `'false'`, `'1'` / `'0'`, `'yes'` / `'no'` (any case
 * at runtime; these spellings in the types).
 */
export type BooleanLike = boolean | 0 | 1 | '0' | '1' | BooleanWord | Uppercase<BooleanWord> | Capitalize<BooleanWord>

/** The sizes and timings of a client pool (option `pool`); numbers, or strings holding one. */
export interface RedisPoolSettings {
  /**
   * Connections opened at startup and kept open, at least 1.
   * @default 1
   */
  minimum?: NumberLike
  /**
   * Most connections the pool opens, at least `minimum`.
   * @default 100
   */
  maximum?: NumberLike
  /**
   * Milliseconds a command may wait for a free connection once `maximum` are
   * in use, then it fails with node-redis's `TimeoutError`; `0` waits as
   * long as it takes.
   * @default commandTimeout
   */
  acquireTimeout?: NumberLike
  /**
   * Milliseconds an idle connection above `minimum` stays open.
   * @default 3000
   */
  cleanupDelay?: NumberLike
}

/**
 * Options accepted by `fastify.register(fastifyRedis, options)`. Any other
 * top-level name is refused with `FST_REDIS_CONFIG` (Fastify's own register
 * options `logLevel` and `logSerializers` excepted).
 */
export interface FastifyNodeRedisOptions {
  /**
   * Names the connection and selects its config keys: prefix `CACHE` reads
   * `CACHE_URL`, `CACHE_HOST`… and decorates `fastify.redis.cache`. Config
   * keys always use the upper-cased prefix (`cache` reads `CACHE_URL` too);
   * the name is the lower-cased prefix. Must match `/^[A-Za-z][A-Za-z0-9_]*$/`.
   * @default 'REDIS'
   */
  prefix?: string
  /**
   * `redis://[[user]:pass@]host[:port][/db]`, `rediss://…` (TLS) or
   * `unix://[[user]:pass@]/path/to.sock[?db=N]`. Replaces host, port, socket
   * path and TLS; replaces db, username and password where it has them.
   * Config key: `PREFIX_URL`.
   */
  url?: string
  /**
   * Host name or IP address; a value starting with `/` is a unix socket path.
   * A URL here (`redis://…`, anything with `://`) is refused: use `url`.
   * Config key: `PREFIX_HOST`.
   * @default 'localhost'
   */
  host?: string
  /**
   * TCP port, 1–65535 (numeric strings are accepted). Config key: `PREFIX_PORT`.
   * @default 6379
   */
  port?: NumberLike
  /**
   * Database number, an integer ≥ 0 (numeric strings are accepted).
   * Config key: `PREFIX_DB`.
   * @default 0
   */
  db?: NumberLike
  /** ACL user name. Config key: `PREFIX_USERNAME`. */
  username?: string
  /**
   * Password (or ACL user's password). Never logged, never put in an error
   * message. Config key: `PREFIX_PASSWORD`.
   */
  password?: string
  /**
   * Path of a unix socket; replaces host and port. Config key:
   * `PREFIX_UNIX_SOCKET_PATH`.
   */
  unixSocketPath?: string
  /**
   * `true`, or Node `tls.ConnectionOptions` (ca, cert, key, servername…).
   * Certificates are verified unless you set `rejectUnauthorized: false`.
   * Config key: `PREFIX_TLS`.
   * @default false
   */
  tls?: BooleanLike | TlsOptions
  /**
   * Milliseconds startup may take to reach *ready* (a PING answered); past it
   * registration fails with `FST_REDIS_CONNECT`. Keep it below Fastify's
   * `pluginTimeout` (10 s by default). Config key: `PREFIX_CONNECT_TIMEOUT`.
   * @default 5000
   */
  connectTimeout?: NumberLike
  /**
   * Milliseconds a connection may leave a command unanswered while its
   * socket stays open (a paused or hung server) before the plugin drops and
   * reopens it, rejecting every waiting command. Checked by a PING probe every
   * commandTimeout / 4, so a stalled command fails within 1.5 × commandTimeout.
   * `0` turns the watchdog off. Not applied to a `client` you pass in.
   * node-redis 4: also bounds the wait for an isolation pool connection;
   * node-redis 5.6 and later, with the offline queue on
   * (`clientOptions.disableOfflineQueue: false`): also node-redis's
   * `commandOptions.timeout` (commands waiting in that queue), unless
   * `clientOptions.commandOptions` sets one.
   * Config key: `PREFIX_COMMAND_TIMEOUT`.
   * @default 5000
   */
  commandTimeout?: NumberLike
  /**
   * Milliseconds `onClose` waits for pending commands to be answered before
   * it drops the connection anyway (Redis down or paused).
   * Config key: `PREFIX_CLOSE_TIMEOUT`.
   * @default 5000
   */
  closeTimeout?: NumberLike
  /**
   * What builds the client: a function (called with node-redis options), a
   * class (constructed with them), or a module path `specifier#export`
   * (`./lib/my-client.js#MyRedis` resolves from the working directory, a bare
   * name from the application's `node_modules`, no `#` means the default
   * export). Config key: `PREFIX_CLASS`.
   * @default 'redis#createClient'
   */
  clientClass?: ClientBuilder | string
  /**
   * Passed through to the client (any node-redis `RedisClientOptions` of the
   * installed major: scripts, modules, functions, name, pingInterval…;
   * `isolationPoolOptions` on node-redis 4 only, `RESP` (2 or 3; 6 defaults to
   * 3) and `commandOptions` on 5 and later).
   * Where the connection goes (url, host, port, path, tls, database,
   * username, password) is set by the plugin's own options instead.
   * `disableOfflineQueue` defaults to `true` here: a command sent while the
   * connection is down fails at once instead of waiting forever.
   */
  clientOptions?: RedisClientOptions<any, any, any>
  /**
   * Redis Cluster: the root nodes, as `redis://[[user]:pass@]host[:port]` or
   * `rediss://…` URLs (an array, or one comma-separated string). Switches this
   * connection to node-redis's `createCluster`; credentials and TLS come from
   * the node URLs or the username / password / tls options and keys.
   * Config key: `PREFIX_CLUSTER_NODES`.
   */
  clusterNodes?: string | string[]
  /**
   * With `clusterNodes`: passed through to `createCluster` (`useReplicas`,
   * `minimizeConnections`, `maxCommandRedirections`, `nodeAddressMap`,
   * `scripts`, `modules`, `functions`, and `defaults` for every node client).
   * Where to connect and the credentials are set by the plugin's own options.
   */
  clusterOptions?: Partial<RedisClusterOptions<any, any, any>>
  /**
   * node-redis 5 and later: make the connection a client pool
   * (`createClientPool`, typed `RedisClientPool`) instead of one client, for
   * blocking commands (BLPOP, XREAD BLOCK) and WATCH/MULTI, which each need a
   * connection of their own: `pool.execute(async (client) => …)` lends one.
   * `true`, or the pool's sizes and timings. Every connection of the pool
   * takes the connection's url, credentials, db, TLS and `clientOptions`.
   * Not with `clusterNodes`, `sentinelNodes`, `client` or `clientClass`; refused with
   * node-redis 4 (use its `executeIsolated`). Config key: `PREFIX_POOL`
   * (a boolean).
   * @default false
   */
  pool?: BooleanLike | RedisPoolSettings
  /**
   * Make the connection a managed subscriber (typed `RedisSubscriber`): a
   * connection of its own for SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE. After
   * every reconnection the plugin checks that the server lists all its
   * subscriptions again (CLIENT LIST, on a short-lived second connection),
   * logs how many were restored, and reopens the connection if some are
   * missing. Messages published while it is down are lost: Redis pub/sub
   * delivers at most once. It takes a client name (CLIENT SETNAME) of its own
   * unless `clientOptions.name` sets one, which should then be unique. Not
   * with `clusterNodes`, `sentinelNodes`, `pool` or `client`.
   * Config key: `PREFIX_SUBSCRIBER` (a boolean).
   * @default false
   */
  subscriber?: BooleanLike
  /**
   * Connect where the connection of this name goes (`'cache'`, or its prefix
   * `'CACHE'`): its address, db, credentials and TLS, and its `clientOptions`
   * but the client name (unless this one gives `clientOptions` of its own).
   * It must be visible here (registered, and awaited, in this context or a
   * parent) and a single connection the plugin built: not a cluster, a
   * Sentinel or a client passed in. Not with the options that say where to
   * connect (url, host, port, db, username, password, unixSocketPath, tls,
   * clusterNodes, sentinelNodes). For a subscriber next to a connection:
   * `{ prefix: 'EVENTS', subscriber: true, sameAs: 'cache' }`.
   * Config key: `PREFIX_SAME_AS`.
   */
  sameAs?: string
  /**
   * Redis Sentinel (node-redis 5 and later): the sentinels, as
   * `redis://[[user]:pass@]host[:port]` or `rediss://…` URLs (port 26379 when
   * absent; an array, or one comma-separated string). Switches this
   * connection to node-redis's `createSentinel`, which follows the master of
   * group `sentinelName`; the data nodes take `db`, `username`, `password`
   * and `tls`. Refused with node-redis 4, which has no Sentinel client.
   * Config key: `PREFIX_SENTINEL_NODES`.
   */
  sentinelNodes?: string | string[]
  /**
   * With `sentinelNodes`: the master group name the sentinels monitor
   * (`sentinel monitor <name> …`); required. Config key: `PREFIX_SENTINEL_NAME`.
   */
  sentinelName?: string
  /**
   * With `sentinelNodes`: the ACL user of the sentinels themselves (the
   * sentinel URLs may carry it instead). Config key: `PREFIX_SENTINEL_USERNAME`.
   */
  sentinelUsername?: string
  /**
   * With `sentinelNodes`: the password of the sentinels themselves
   * (`requirepass` in their config; the sentinel URLs may carry it instead).
   * Never logged, never in an error message. Config key:
   * `PREFIX_SENTINEL_PASSWORD`.
   */
  sentinelPassword?: string
  /**
   * With `sentinelNodes`: passed through to `createSentinel`
   * (`masterPoolSize`, `replicaPoolSize`, `scanInterval`, `reserveClient`,
   * `maxCommandRediscovers`, `nodeAddressMap`, `scripts`, `modules`,
   * `functions`, `RESP`, and `nodeClientOptions` / `sentinelClientOptions`
   * for the data node and sentinel clients: `name`, `socket.keepAlive`…).
   * Where to connect and the credentials are set by the plugin's own options.
   */
  sentinelOptions?: FastifyRedisSentinelOptions
  /**
   * Bring your own node-redis client (connected or not); the plugin builds
   * none and ignores the connection keys.
   */
  client?: unknown
  /**
   * With `client`: close it in `onClose` too. Whoever creates a client closes it.
   * @default false
   */
  closeClient?: boolean
  /**
   * Connect in the background: startup neither waits for Redis nor fails
   * when it is down; commands fail fast until the connection is ready.
   * Config key: `PREFIX_LAZY_CONNECT`.
   * @default false
   */
  lazyConnect?: BooleanLike
  /**
   * Per-connection metrics (docs/metrics.md): `true` counts commands, their
   * failures by error class and latency, reconnects and time down, read with
   * `redisMetrics(fastify)`; a prom-client `Registry` also reports them there
   * (`redis_commands_total{connection="<name>"}`…). Off, nothing is
   * wrapped or listened to. Config key: `PREFIX_METRICS` (a boolean).
   * @default false
   */
  metrics?: BooleanLike | MetricsRegistry
  /**
   * Where `PREFIX_*` keys are read. Defaults to `fastify.config` when it is
   * decorated (by `@fastify/env`); `process.env` is never read implicitly.
   */
  config?: Record<string, unknown>
}

/**
 * What option `metrics` accepts besides a boolean: a prom-client `Registry`
 * (`new Registry()`, or `register`, the default one), typed by the methods
 * the plugin calls so that prom-client stays optional.
 */
export interface MetricsRegistry {
  registerMetric (metric: any): void
  getSingleMetric (name: string): unknown
  removeSingleMetric (name: string): void
  metrics (): Promise<string>
}

/**
 * What `sentinelOptions` accepts: node-redis's `RedisSentinelOptions` but
 * the name, the sentinels and the credentials (typed loosely, so that it
 * compiles against node-redis 4, which has no Sentinel).
 */
export interface FastifyRedisSentinelOptions {
  /** Connections to the master (default 1). */
  masterPoolSize?: number
  /** Connections to each replica; above 0, read-only commands go to the replicas (default 0). */
  replicaPoolSize?: number
  /** ms between two topology scans besides the sentinels' notifications (default 0: none). */
  scanInterval?: number
  /** Keep one master connection for the sentinel object itself. */
  reserveClient?: boolean
  /** How many times a command is retried across topology changes (default 16). */
  maxCommandRediscovers?: number
  /** Maps the addresses the sentinels announce to the ones to connect to. */
  nodeAddressMap?: Record<string, { host: string, port: number }> | ((address: string) => { host: string, port: number } | undefined)
  /** Options of every data node client (not where to connect, nor the credentials). */
  nodeClientOptions?: Record<string, unknown>
  /** Options of every sentinel client (not where to connect, nor the credentials). */
  sentinelClientOptions?: Record<string, unknown>
  [option: string]: unknown
}

/** One connection, fully resolved, frozen. */
export interface ConnectionSpec {
  readonly name: string
  readonly prefix: string
  /** Where it connects, for messages and logs: the password is masked. */
  readonly target: string
  readonly host?: string
  readonly port?: number
  readonly socketPath?: string
  readonly tls: false | TlsOptions
  readonly db: number
  readonly username?: string
  readonly password?: string
  readonly connectTimeout: number
  readonly closeTimeout: number
  readonly commandTimeout: number
  readonly lazyConnect: boolean
  /** Metrics on (`true`), also reported in a prom-client registry, or off. */
  readonly metrics: boolean | MetricsRegistry
  readonly clientClass?: ClientBuilder | string
  readonly clientOptions: Readonly<RedisClientOptions<any, any, any>>
  /** Redis Cluster mode: the root nodes and the createCluster options (without rootNodes). */
  readonly cluster?: Readonly<{
    rootNodes: ReadonlyArray<Readonly<{ host: string, port: number }>>
    options: Readonly<Partial<RedisClusterOptions<any, any, any>>>
  }>
  /** A client pool (node-redis 5+): its sizes and timings, resolved. */
  readonly pool?: Readonly<{ minimum: number, maximum: number, acquireTimeout: number, cleanupDelay: number }>
  /** Sentinel mode: the master group, the sentinels, their credentials and TLS, and the createSentinel options. */
  readonly sentinel?: Readonly<{
    name: string
    nodes: ReadonlyArray<Readonly<{ host: string, port: number }>>
    username?: string
    password?: string
    tls: false | TlsOptions
    options: Readonly<FastifyRedisSentinelOptions>
  }>
  /** A managed subscriber connection (option `subscriber`). */
  readonly subscriber?: true
  readonly client?: unknown
  readonly closeClient: boolean
}

// Resolution lives in ./resolve, the option table in ./keys; these stay importable from here.
export { CONFIG_KEYS } from './keys'
export { nameOf, resolveOptions } from './resolve'
