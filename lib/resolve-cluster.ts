import type { ConnectionOptions as TlsOptions } from 'node:tls'
import type { RedisClusterOptions } from 'redis'
import { show } from './errors'
import { agreed, authOf, hostPort, isPlainObject, nodeOptionsOf, type Found, type Source } from './source'
import { redactUrl } from './url'

/** The root nodes of a cluster, and the TLS and credentials they agree on. */
export function clusterOf (
  source: Source,
  found: Found,
  keys: { tls: false | TlsOptions | undefined, username?: string, password?: string }
): { rootNodes: Array<{ host: string, port: number }>, where: { target: string, tls: false | TlsOptions, username?: string, password?: string } } {
  const list = source.urls(found, 'node')
  let { tls, username, password } = keys
  const parsed = list.map((url) => {
    const node = source.url(url, found.where)
    const shown = redactUrl(url)
    if (node.socketPath !== undefined) source.fail(found.where, `has ${shown}: cluster nodes are reached over TCP, not unix sockets`)
    if (node.db !== undefined && node.db !== 0) source.fail(found.where, `has ${shown}: Redis Cluster has database 0 only`)
    return node
  })
  const urls = agreed(source, found.where, parsed, 'nodes', 'every node of a cluster takes the same')
  username = urls.username ?? username
  password = urls.password ?? password
  const rootNodes = parsed.map((node) => Object.freeze({ host: node.host ?? 'localhost', port: node.port ?? 6379 }))
  if (urls.tls) {
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
  if (given.defaults === undefined) return { ...given }
  return { ...given, defaults: nodeOptionsOf(source, 'clusterOptions.defaults', given.defaults, 'set the plugin\'s own clusterNodes or tls option instead') }
}
