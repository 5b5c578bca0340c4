import type { ConnectionOptions as TlsOptions } from 'node:tls'
import type { RedisClientOptions } from 'redis'
import { FST_REDIS_CLIENT_CLASS, FST_REDIS_CONFIG, show } from './errors'
import type { ClientBuilder, ConnectionSpec, FastifyNodeRedisOptions } from './options'
import { unknownOptions, unreadConfigKeys } from './keys'
import { clusterOf, clusterOptionsOf } from './resolve-cluster'
import { metricsOptionOf } from './resolve-metrics'
import { poolOf } from './resolve-pool'
import { sameAsOf } from './resolve-same-as'
import { sentinelOf } from './resolve-sentinel'
import { describe, isPlainObject, type Found, RESERVED_CLIENT_OPTIONS, RESERVED_SOCKET_OPTIONS, SOCKET_SIGNAL, Source } from './source'
import { redactUrl } from './url'

export const DEFAULT_PREFIX = 'REDIS'
export const DEFAULT_TIMEOUT = 5000
const MAX_TIMER = 2 ** 31 - 1
const PREFIX = /^[A-Za-z][A-Za-z0-9_]*$/
// Node TLS options that would silently override where the plugin connects.
const RESERVED_TLS_OPTIONS = ['host', 'port', 'path', 'socket'] as const

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
  if (socket?.signal !== undefined) source.fail('option "clientOptions.socket.signal"', SOCKET_SIGNAL)
  // A copy: node-redis mutates the options object it is given.
  return { disableOfflineQueue: true, ...given, ...(socket && { socket: { ...socket } }) }
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

function clientClassOf (source: Source): ClientBuilder | string | undefined {
  const found = source.get('clientClass')
  if (found === undefined) return undefined
  if (typeof found.value === 'function') return found.value as ClientBuilder
  if (typeof found.value === 'string' && found.value.trim() !== '') return found.value.trim()
  throw new FST_REDIS_CLIENT_CLASS(`connection "${source.name}": ${found.where} must be a function, a class or a module path string "specifier#export", got ${show(found.value)}`)
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
 * connection. Pure: touches no network and never mutates its input; `warn`
 * receives one line per config key that looks meant for this connection but
 * is not read.
 */
export function resolveOptions (options: FastifyNodeRedisOptions = {}, fallbackConfig?: unknown, warn?: (message: string) => void, visible: (name: string) => ConnectionSpec | undefined = () => undefined): ConnectionSpec {
  const name = nameOf(options)
  const unknown = unknownOptions(options)
  if (unknown.length > 0) throw new FST_REDIS_CONFIG(`connection "${name}": ${unknown.join('; ')}`)
  const config = configOf(options, fallbackConfig, name)
  const source = new Source(name, options.prefix ?? DEFAULT_PREFIX, options, config)
  const prefix = source.keyPrefix
  if (config !== undefined && warn !== undefined) {
    for (const line of unreadConfigKeys(prefix, config)) warn(`connection "${name}": ${line}`)
  }

  const connectTimeout = source.integer('connectTimeout', 1, MAX_TIMER) ?? DEFAULT_TIMEOUT
  const closeTimeout = source.integer('closeTimeout', 1, MAX_TIMER) ?? DEFAULT_TIMEOUT
  const commandTimeout = source.integer('commandTimeout', 0, MAX_TIMER) ?? DEFAULT_TIMEOUT
  const lazyConnect = source.boolean('lazyConnect') ?? false
  const metrics = metricsOptionOf(source)
  if (options.closeClient !== undefined && typeof options.closeClient !== 'boolean') {
    source.fail('option "closeClient"', `must be a boolean, got ${show(options.closeClient)}`)
  }
  const clientClass = clientClassOf(source)
  const subscriber = source.boolean('subscriber') === true
  const like = sameAsOf(source, visible)
  /** Refuses a subscriber with what cannot hold one: `found` says where the other option came from. */
  const single = (found: Found | undefined, why: string): void => {
    if (subscriber && found !== undefined) source.fail(source.get('subscriber')!.where, `cannot be combined with ${found.where}: ${why}`)
  }

  if (options.client !== undefined) {
    single({ value: options.client, where: 'option "client"' }, 'the plugin builds and manages the subscriber connection itself')
    const client = options.client as Record<string, unknown> | null
    if (typeof client !== 'object' || client === null || typeof client.connect !== 'function' || typeof client.on !== 'function') {
      source.fail('option "client"', `must be a node-redis client (an object with connect() and on()), got ${show(client)}`)
    }
    for (const option of ['url', 'host', 'port', 'db', 'username', 'password', 'unixSocketPath', 'tls', 'clientClass', 'clientOptions', 'pool'] as const) {
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
      metrics,
      clientOptions: Object.freeze({}),
      client,
      closeClient: options.closeClient ?? false
    })
  }
  if (options.closeClient !== undefined) source.fail('option "closeClient"', 'only applies together with option "client"')

  let host = source.string('host')
  if (host?.includes('://')) {
    source.fail(source.get('host')!.where, `looks like a URL (${show(redactUrl(host))}), not a host name: put a redis://, rediss:// or unix:// URL in option "url" (config key ${source.key('url')}) and a socket path in option "unixSocketPath" (config key ${source.key('unixSocketPath')})`)
  }
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

  /** The rest of a connection whose nodes say where to connect (a cluster, a Sentinel). */
  const nodesOf = <K extends 'cluster' | 'sentinel'>(value: NonNullable<ConnectionSpec[K]>, kind: K) => ({
    connectTimeout, closeTimeout, commandTimeout, lazyConnect, metrics, clientClass, clientOptions: Object.freeze({}), [kind]: value, closeClient: true
  }) as { [P in K]: NonNullable<ConnectionSpec[K]> } & Pick<ConnectionSpec, 'connectTimeout' | 'closeTimeout' | 'commandTimeout' | 'lazyConnect' | 'metrics' | 'clientClass' | 'clientOptions' | 'closeClient'>

  const sentinels = source.get('sentinelNodes')
  single(sentinels, 'subscribe on a connection to the master itself (its url)')
  single(source.get('clusterNodes'), 'subscribe on a connection to one node (its url): Redis Cluster delivers PUBLISH to every node; sharded pub/sub through the plugin is not supported yet')
  single(source.get('pool'), 'a subscriber is one connection')
  if (sentinels !== undefined) {
    for (const option of ['url', 'host', 'port', 'unixSocketPath', 'clusterNodes'] as const) {
      const found = source.get(option)
      if (found !== undefined) source.fail(found.where, `cannot be combined with sentinel nodes (${sentinels.where}): the sentinels say where the master is`)
    }
    for (const option of ['clientOptions', 'clusterOptions'] as const) {
      if (options[option] !== undefined) source.fail(`option "${option}"`, `cannot be combined with sentinel nodes (${sentinels.where}): use sentinelOptions (its nodeClientOptions apply to every data node)`)
    }
    const pool = source.get('pool')
    if (pool !== undefined) source.fail(pool.where, `cannot be combined with sentinel nodes (${sentinels.where}): the Sentinel client pools its master connections itself (sentinelOptions.masterPoolSize)`)
    const { sentinel, ...where } = sentinelOf(source, sentinels, { tls, db, username, password })
    return Object.freeze({ name, prefix, ...where, db, ...nodesOf(sentinel, 'sentinel') })
  }
  for (const option of ['sentinelName', 'sentinelUsername', 'sentinelPassword'] as const) {
    const found = source.get(option)
    if (found !== undefined) source.fail(found.where, `only applies together with sentinel nodes (option "sentinelNodes" or config key ${source.key('sentinelNodes')})`)
  }
  if (options.sentinelOptions !== undefined) {
    source.fail('option "sentinelOptions"', `only applies together with sentinel nodes (option "sentinelNodes" or config key ${source.key('sentinelNodes')})`)
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
    const pool = source.get('pool')
    if (pool !== undefined) source.fail(pool.where, `cannot be combined with cluster nodes (${nodes.where}): node-redis pools single connections only`)
    const cluster = clusterOf(source, nodes, { tls, username, password })
    return Object.freeze({ name, prefix, ...cluster.where, db: 0, ...nodesOf(Object.freeze({ rootNodes: cluster.rootNodes, options: Object.freeze(clusterOptionsOf(source)) }), 'cluster') })
  } else if (options.clusterOptions !== undefined) {
    source.fail('option "clusterOptions"', `only applies together with cluster nodes (option "clusterNodes" or config key ${source.key('clusterNodes')})`)
  }

  const url = source.get('url')
  if (url !== undefined) {
    if (typeof url.value !== 'string' || url.value === '') source.bad('url', url, 'a non-empty string')
    const parsed = source.url(url.value as string, url.where)
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
  const pool = poolOf(source, commandTimeout)
  if (pool !== undefined && clientClass !== undefined) {
    source.fail(source.get('clientClass')!.where, `cannot be combined with a pool (${source.get('pool')!.where}): the pool builds its own clients (node-redis's createClientPool)`)
  }
  const { target, clientOptions: copied, ...where } = like ?? { tls: tls ?? false, host, port, socketPath, db, username, password }
  return Object.freeze({
    name,
    prefix,
    target: target ?? describe(where),
    ...where,
    connectTimeout,
    closeTimeout,
    commandTimeout,
    lazyConnect,
    metrics,
    clientClass,
    clientOptions: copied !== undefined && options.clientOptions === undefined ? copied : Object.freeze(clientOptionsOf(source)),
    ...(pool !== undefined && { pool }),
    ...(subscriber && { subscriber }),
    closeClient: true
  })
}
