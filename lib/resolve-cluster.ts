import type { ConnectionOptions as TlsOptions } from 'node:tls'
import type { RedisClusterOptions } from 'redis'
import { show } from './errors'
import { authOf, hostPort, isPlainObject, RESERVED_CLIENT_OPTIONS, RESERVED_SOCKET_OPTIONS, SOCKET_SIGNAL, type Found, type Source } from './source'
import { redactUrl } from './url'

/** The root nodes of a cluster, and the TLS and credentials they agree on. */
export function clusterOf (
  source: Source,
  found: Found,
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
    const parsed = source.url(url, found.where)
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
  const hosts = rootNodes.map(({ host, port }) => hostPort(host, port)).join(',')
  return {
    rootNodes,
    where: { target: `cluster ${tls ? 'rediss' : 'redis'}://${authOf(username, password)}${hosts}`, tls: tls ?? false, username, password }
  }
}

/** The createCluster options given, copied and guarded. */
export function clusterOptionsOf (source: Source): Partial<RedisClusterOptions<any, any, any>> {
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
    if ((socket as Record<string, unknown> | undefined)?.[key] !== undefined) source.fail(`option "clusterOptions.defaults.socket.${key}"`, 'is not accepted: set the plugin\'s own clusterNodes or tls option instead')
  }
  if ((socket as Record<string, unknown> | undefined)?.signal !== undefined) source.fail('option "clusterOptions.defaults.socket.signal"', SOCKET_SIGNAL)
  return { ...given, defaults: { ...defaults, ...(socket && { socket: { ...socket } }) } }
}
