import type { ConnectionOptions as TlsOptions } from 'node:tls'
import type { RedisClientOptions, RedisClusterOptions } from 'redis'
import { FST_REDIS_CLIENT_CLASS, FST_REDIS_CONFIG, show } from './errors'
import { parseRedisUrl, redactUrl, UrlError, type ParsedUrl } from './url'

/** A function that builds a client from node-redis options, or a class that does. */
export type ClientBuilder =
  | ((options: RedisClientOptions<any, any, any>) => unknown)
  | (new (options: RedisClientOptions<any, any, any>) => unknown)

/** Options accepted by `fastify.register(fastifyRedis, options)`. */
export interface FastifyNodeRedisOptions {
  /**
   * Names the connection and selects its config keys: prefix `CACHE` reads
   * `CACHE_URL`, `CACHE_HOST`… and decorates `fastify.redis.cache`.
   * Must match `/^[A-Za-z][A-Za-z0-9_]*$/`.
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
   * Config key: `PREFIX_HOST`.
   * @default 'localhost'
   */
  host?: string
  /**
   * TCP port, 1–65535 (numeric strings are accepted). Config key: `PREFIX_PORT`.
   * @default 6379
   */
  port?: number | string
  /**
   * Database number, an integer ≥ 0 (numeric strings are accepted).
   * Config key: `PREFIX_DB`.
   * @default 0
   */
  db?: number | string
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
  tls?: boolean | TlsOptions
  /**
   * Milliseconds startup may take to reach *ready* (a PING answered); past it
   * registration fails with `FST_REDIS_CONNECT`. Keep it below Fastify's
   * `pluginTimeout` (10 s by default). Config key: `PREFIX_CONNECT_TIMEOUT`.
   * @default 5000
   */
  connectTimeout?: number | string
  /**
   * Milliseconds a connection may leave a command unanswered while its
   * socket stays open (a paused or hung server) before the plugin drops and
   * reopens it, rejecting every waiting command. Checked by a PING probe every
   * commandTimeout / 4, so a stalled command fails within 1.5 × commandTimeout.
   * `0` turns the watchdog off. Not applied to a `client` you pass in.
   * Config key: `PREFIX_COMMAND_TIMEOUT`.
   * @default 5000
   */
  commandTimeout?: number | string
  /**
   * Milliseconds `onClose` waits for pending commands to be answered before
   * it drops the connection anyway (Redis down or paused).
   * Config key: `PREFIX_CLOSE_TIMEOUT`.
   * @default 5000
   */
  closeTimeout?: number | string
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
   * Passed through to the client (any node-redis `RedisClientOptions`:
   * scripts, modules, functions, name, pingInterval, isolationPoolOptions…).
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
  lazyConnect?: boolean | string
  /**
   * Where `PREFIX_*` keys are read. Defaults to `fastify.config` when it is
   * decorated (by `@fastify/env`); `process.env` is never read implicitly.
   */
  config?: Record<string, unknown>
}

/** The option → config-key-suffix table, shared with the env schema. */
export const CONFIG_KEYS = {
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
  lazyConnect: 'LAZY_CONNECT',
  clusterNodes: 'CLUSTER_NODES'
} as const

type Keyed = keyof typeof CONFIG_KEYS

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
  readonly clientClass?: ClientBuilder | string
  readonly clientOptions: Readonly<RedisClientOptions<any, any, any>>
  /** Redis Cluster mode: the root nodes and the createCluster options (without rootNodes). */
  readonly cluster?: Readonly<{
    rootNodes: ReadonlyArray<Readonly<{ host: string, port: number }>>
    options: Readonly<Partial<RedisClusterOptions<any, any, any>>>
  }>
  readonly client?: unknown
  readonly closeClient: boolean
}

export const DEFAULT_PREFIX = 'REDIS'
export const DEFAULT_TIMEOUT = 5000
const MAX_TIMER = 2 ** 31 - 1
const PREFIX = /^[A-Za-z][A-Za-z0-9_]*$/
const SECRET: ReadonlySet<Keyed> = new Set(['password'])
// Options that say where to connect: they may not also arrive through clientOptions.
const RESERVED_CLIENT_OPTIONS = ['url', 'database', 'username', 'password'] as const
const RESERVED_SOCKET_OPTIONS = ['host', 'port', 'path', 'tls'] as const
// Node TLS options that would silently override where the plugin connects.
const RESERVED_TLS_OPTIONS = ['host', 'port', 'path', 'socket'] as const

/** Reads one field: the explicit option wins over the config key. */
class Source {
  constructor (
    readonly name: string,
    readonly prefix: string,
    readonly options: FastifyNodeRedisOptions,
    readonly config: Record<string, unknown> | undefined
  ) {}

  get (option: Keyed): { value: unknown, where: string } | undefined {
    const explicit = (this.options as Record<string, unknown>)[option]
    if (explicit !== undefined) return { value: explicit, where: `option "${option}"` }
    const key = `${this.prefix}_${CONFIG_KEYS[option]}`
    const value = this.config?.[key]
    // An environment variable set to the empty string means "not set".
    if (value === undefined || value === null || value === '') return undefined
    return { value, where: `config key ${key}` }
  }

  fail (where: string, problem: string): never {
    throw new FST_REDIS_CONFIG(`connection "${this.name}": ${where} ${problem}`)
  }

  bad (option: Keyed, found: { value: unknown, where: string }, expected: string): never {
    const shown = SECRET.has(option) ? '(value hidden)' : show(found.value)
    return this.fail(found.where, `must be ${expected}, got ${shown}`)
  }

  string (option: Keyed): string | undefined {
    const found = this.get(option)
    if (found === undefined) return undefined
    if (typeof found.value !== 'string' || found.value === '') this.bad(option, found, 'a non-empty string')
    return found.value as string
  }

  integer (option: Keyed, min: number, max: number): number | undefined {
    const found = this.get(option)
    if (found === undefined) return undefined
    const { value } = found
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
      this.bad(option, found, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`)
    }
    return n as number
  }

  boolean (option: Keyed): boolean | undefined {
    const found = this.get(option)
    if (found === undefined) return undefined
    const { value } = found
    if (typeof value === 'boolean') return value
    if (typeof value === 'string' && /^(true|1|yes)$/i.test(value)) return true
    if (typeof value === 'string' && /^(false|0|no)$/i.test(value)) return false
    return this.bad(option, found, 'a boolean ("true" or "false" in config)')
  }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function tlsOption (source: Source): false | TlsOptions | undefined {
  const found = source.get('tls')
  if (found !== undefined && isPlainObject(found.value)) {
    for (const key of RESERVED_TLS_OPTIONS) {
      if (found.value[key] !== undefined) {
        source.fail(`option "tls.${key}"`, 'is not accepted: set the plugin\'s own url, host, port or unixSocketPath option instead')
      }
    }
    return { ...found.value } as TlsOptions
  }
  const on = source.boolean('tls')
  return on === undefined ? undefined : on && {}
}

function clientOptionsOf (source: Source): RedisClientOptions<any, any, any> {
  const given = source.options.clientOptions
  if (given === undefined) return { disableOfflineQueue: true }
  if (!isPlainObject(given)) source.fail('option "clientOptions"', `must be an object, got ${show(given)}`)
  for (const key of RESERVED_CLIENT_OPTIONS) {
    if (given[key] !== undefined) {
      source.fail(`option "clientOptions.${key}"`, `is not accepted: set the plugin's own ${key === 'database' ? '"db"' : `"${key}"`} option (or its config key) instead`)
    }
  }
  const socket = given.socket
  if (socket !== undefined && !isPlainObject(socket)) source.fail('option "clientOptions.socket"', `must be an object, got ${show(socket)}`)
  for (const key of RESERVED_SOCKET_OPTIONS) {
    if (socket?.[key] !== undefined) {
      source.fail(`option "clientOptions.socket.${key}"`, 'is not accepted: set the plugin\'s own url, host, port, unixSocketPath or tls option instead')
    }
  }
  // A copy: node-redis mutates the options object it is given.
  return { disableOfflineQueue: true, ...given, ...(socket && { socket: { ...socket } }) }
}

function describe (spec: { tls: false | TlsOptions, host?: string, port?: number, socketPath?: string, db: number, username?: string, password?: string }): string {
  const auth = spec.password !== undefined
    ? `${encodeURIComponent(spec.username ?? '')}:***@`
    : spec.username !== undefined ? `${encodeURIComponent(spec.username)}@` : ''
  if (spec.socketPath !== undefined) return `unix://${auth}${spec.socketPath}?db=${spec.db}`
  const host = spec.host!.includes(':') ? `[${spec.host}]` : spec.host
  return `${spec.tls ? 'rediss' : 'redis'}://${auth}${host}:${spec.port}/${spec.db}`
}

/** The config object the plugin reads `PREFIX_*` keys from. */
function configOf (options: FastifyNodeRedisOptions, fallback: unknown, name: string): Record<string, unknown> | undefined {
  const config = options.config ?? fallback
  if (config === undefined || config === null) return undefined
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new FST_REDIS_CONFIG(`connection "${name}": option "config" must be an object, got ${show(config)}`)
  }
  return config as Record<string, unknown>
}

/** Validates the prefix and returns the connection name it gives. */
export function nameOf (options: unknown): string {
  if (options !== undefined && !isPlainObject(options)) {
    throw new FST_REDIS_CONFIG(`options must be an object, got ${show(options)}`)
  }
  const prefix = options?.prefix ?? DEFAULT_PREFIX
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new FST_REDIS_CONFIG(`option "prefix" must match /^[A-Za-z][A-Za-z0-9_]*$/ (it names the config keys and the connection), got ${show(prefix)}`)
  }
  return prefix.toLowerCase()
}

/**
 * Turns options plus config keys into one frozen description of the
 * connection. Pure: touches no network and never mutates its input.
 */
export function resolveOptions (options: FastifyNodeRedisOptions = {}, fallbackConfig?: unknown): ConnectionSpec {
  const name = nameOf(options)
  const prefix = options.prefix ?? DEFAULT_PREFIX
  const source = new Source(name, prefix, options, configOf(options, fallbackConfig, name))

  const connectTimeout = source.integer('connectTimeout', 1, MAX_TIMER) ?? DEFAULT_TIMEOUT
  const closeTimeout = source.integer('closeTimeout', 1, MAX_TIMER) ?? DEFAULT_TIMEOUT
  const commandTimeout = source.integer('commandTimeout', 0, MAX_TIMER) ?? DEFAULT_TIMEOUT
  const lazyConnect = source.boolean('lazyConnect') ?? false
  if (options.closeClient !== undefined && typeof options.closeClient !== 'boolean') {
    source.fail('option "closeClient"', `must be a boolean, got ${show(options.closeClient)}`)
  }
  const clientClass = clientClassOf(source)

  if (options.client !== undefined) {
    const client = options.client as Record<string, unknown> | null
    if (typeof client !== 'object' || client === null || typeof client.connect !== 'function' || typeof client.on !== 'function') {
      source.fail('option "client"', `must be a node-redis client (an object with connect() and on()), got ${show(client)}`)
    }
    for (const option of ['url', 'host', 'port', 'db', 'username', 'password', 'unixSocketPath', 'tls', 'clientClass', 'clientOptions'] as const) {
      if (options[option] !== undefined) source.fail(`option "${option}"`, 'cannot be combined with option "client": the client you pass is already configured')
    }
    return Object.freeze({
      name,
      prefix,
      target: '(a client passed in)',
      tls: false,
      db: 0,
      connectTimeout,
      closeTimeout,
      commandTimeout,
      lazyConnect,
      clientOptions: Object.freeze({}),
      client,
      closeClient: options.closeClient ?? false
    })
  }
  if (options.closeClient !== undefined) source.fail('option "closeClient"', 'only applies together with option "client"')

  let host = source.string('host')
  let port = source.integer('port', 1, 65535)
  let db = source.integer('db', 0, Number.MAX_SAFE_INTEGER) ?? 0
  let username = source.string('username')
  const rawPassword = source.get('password')
  if (rawPassword !== undefined && typeof rawPassword.value !== 'string') source.bad('password', rawPassword, 'a string')
  let password = rawPassword?.value as string | undefined
  let socketPath = source.string('unixSocketPath')
  let tls = tlsOption(source)
  if (host?.startsWith('/')) {
    socketPath ??= host
    host = undefined
  }

  const nodes = source.get('clusterNodes')
  if (nodes !== undefined) {
    for (const option of ['url', 'host', 'port', 'unixSocketPath'] as const) {
      const found = source.get(option)
      if (found !== undefined) source.fail(found.where, `cannot be combined with cluster nodes (${nodes.where}): the nodes say where to connect`)
    }
    if (options.clientOptions !== undefined) {
      source.fail('option "clientOptions"', `cannot be combined with cluster nodes (${nodes.where}): use clusterOptions (its defaults apply to every node)`)
    }
    if (db !== 0) source.fail(source.get('db')!.where, `must be 0 with cluster nodes (${nodes.where}): Redis Cluster has database 0 only`)
    const cluster = clusterOf(source, nodes, { tls, username, password })
    return Object.freeze({
      name,
      prefix,
      ...cluster.where,
      db: 0,
      connectTimeout,
      closeTimeout,
      commandTimeout,
      lazyConnect,
      clientClass,
      clientOptions: Object.freeze({}),
      cluster: Object.freeze({ rootNodes: cluster.rootNodes, options: Object.freeze(clusterOptionsOf(source)) }),
      closeClient: true
    })
  } else if (options.clusterOptions !== undefined) {
    source.fail('option "clusterOptions"', 'only applies together with cluster nodes (option "clusterNodes" or config key ' + `${prefix}_CLUSTER_NODES)`)
  }

  const url = source.get('url')
  if (url !== undefined) {
    if (typeof url.value !== 'string' || url.value === '') source.bad('url', url, 'a non-empty string')
    const parsed = parseUrl(source, url.value as string, url.where)
    if (parsed.tls) {
      tls = tls || {}
    } else if (tls) {
      source.fail(url.where, `is a ${parsed.socketPath ? 'unix:' : 'redis:'} URL but TLS is also requested: use a rediss:// URL, or drop the tls option`)
    }
    host = parsed.socketPath === undefined ? parsed.host ?? 'localhost' : undefined
    port = parsed.socketPath === undefined ? parsed.port ?? 6379 : undefined
    socketPath = parsed.socketPath
    db = parsed.db ?? db
    username = parsed.username ?? username
    password = parsed.password ?? password
  }

  if (socketPath !== undefined) {
    host = undefined
    port = undefined
  } else {
    host ??= 'localhost'
    port ??= 6379
  }
  if (password === '') password = undefined
  const where = { tls: tls ?? false, host, port, socketPath, db, username, password }
  return Object.freeze({
    name,
    prefix,
    target: describe(where),
    ...where,
    connectTimeout,
    closeTimeout,
    commandTimeout,
    lazyConnect,
    clientClass,
    clientOptions: Object.freeze(clientOptionsOf(source)),
    closeClient: true
  })
}

/** The root nodes of a cluster, and the TLS and credentials they agree on. */
function clusterOf (
  source: Source,
  found: { value: unknown, where: string },
  keys: { tls: false | TlsOptions | undefined, username?: string, password?: string }
): { rootNodes: Array<{ host: string, port: number }>, where: { target: string, tls: false | TlsOptions, username?: string, password?: string } } {
  const list = typeof found.value === 'string' ? found.value.split(',').map((u) => u.trim()).filter(Boolean) : found.value
  if (!Array.isArray(list) || list.length === 0 || !list.every((u) => typeof u === 'string' && u !== '')) {
    source.fail(found.where, `must be a list of node URLs (an array, or one comma-separated string), got ${show(found.value)}`)
  }
  let { tls, username, password } = keys
  let urlTls: boolean | undefined
  let credentials: string | undefined
  const rootNodes = (list as string[]).map((url) => {
    const parsed = parseUrl(source, url, found.where)
    const shown = redactUrl(url)
    if (parsed.socketPath !== undefined) source.fail(found.where, `has ${shown}: cluster nodes are reached over TCP, not unix sockets`)
    if (parsed.db !== undefined && parsed.db !== 0) source.fail(found.where, `has ${shown}: Redis Cluster has database 0 only`)
    if (urlTls !== undefined && urlTls !== parsed.tls) source.fail(found.where, 'mixes redis:// and rediss:// nodes: use one scheme for all')
    urlTls = parsed.tls
    if (parsed.username !== undefined || parsed.password !== undefined) {
      const these = `${parsed.username ?? ''}\0${parsed.password ?? ''}`
      if (credentials !== undefined && credentials !== these) source.fail(found.where, 'gives different credentials for different nodes: every node of a cluster takes the same')
      credentials = these
      username = parsed.username ?? username
      password = parsed.password ?? password
    }
    return Object.freeze({ host: parsed.host ?? 'localhost', port: parsed.port ?? 6379 })
  })
  if (urlTls) {
    tls = tls || {}
  } else if (tls) {
    source.fail(found.where, 'has redis:// nodes but TLS is also requested: use rediss:// node URLs, or drop the tls option')
  }
  if (password === '') password = undefined
  const auth = password !== undefined
    ? `${encodeURIComponent(username ?? '')}:***@`
    : username !== undefined ? `${encodeURIComponent(username)}@` : ''
  const hosts = rootNodes.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',')
  return {
    rootNodes,
    where: { target: `cluster ${tls ? 'rediss' : 'redis'}://${auth}${hosts}`, tls: tls ?? false, username, password }
  }
}

function clusterOptionsOf (source: Source): Partial<RedisClusterOptions<any, any, any>> {
  const given = source.options.clusterOptions
  if (given === undefined) return {}
  if (!isPlainObject(given)) source.fail('option "clusterOptions"', `must be an object, got ${show(given)}`)
  if (given.rootNodes !== undefined) source.fail('option "clusterOptions.rootNodes"', 'is not accepted: give the nodes with option "clusterNodes" (or its config key)')
  const defaults = given.defaults
  if (defaults === undefined) return { ...given }
  if (!isPlainObject(defaults)) source.fail('option "clusterOptions.defaults"', `must be an object, got ${show(defaults)}`)
  for (const key of RESERVED_CLIENT_OPTIONS) {
    if ((defaults as Record<string, unknown>)[key] !== undefined) source.fail(`option "clusterOptions.defaults.${key}"`, 'is not accepted: set the plugin\'s own options (or their config keys) instead')
  }
  const socket = defaults.socket
  if (socket !== undefined && !isPlainObject(socket)) source.fail('option "clusterOptions.defaults.socket"', `must be an object, got ${show(socket)}`)
  for (const key of RESERVED_SOCKET_OPTIONS) {
    if (socket?.[key] !== undefined) source.fail(`option "clusterOptions.defaults.socket.${key}"`, 'is not accepted: set the plugin\'s own clusterNodes or tls option instead')
  }
  return { ...given, defaults: { ...defaults, ...(socket && { socket: { ...socket } }) } }
}

function parseUrl (source: Source, url: string, where: string): ParsedUrl {
  try {
    return parseRedisUrl(url)
  } catch (err) {
    /* c8 ignore next -- parseRedisUrl throws nothing but UrlError */
    if (!(err instanceof UrlError)) throw err
    return source.fail(where, `${redactUrl(url)} is not a valid Redis URL: ${err.message}`)
  }
}

function clientClassOf (source: Source): ClientBuilder | string | undefined {
  const found = source.get('clientClass')
  if (found === undefined) return undefined
  if (typeof found.value === 'function') return found.value as ClientBuilder
  if (typeof found.value === 'string' && found.value.trim() !== '') return found.value.trim()
  throw new FST_REDIS_CLIENT_CLASS(`connection "${source.name}": ${found.where} must be a function, a class or a module path string "specifier#export", got ${show(found.value)}`)
}
