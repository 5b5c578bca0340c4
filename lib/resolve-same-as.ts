import type { ConnectionSpec } from './options'
import type { Source } from './source'

/** What a connection copies from the one its `sameAs` names. */
export type Copied = Pick<ConnectionSpec, 'target' | 'tls' | 'host' | 'port' | 'socketPath' | 'db' | 'username' | 'password' | 'clientOptions'>

/** The options that say where a connection goes: `sameAs` replaces them all. */
const WHERE = ['url', 'host', 'port', 'db', 'username', 'password', 'unixSocketPath', 'tls', 'clusterNodes', 'sentinelNodes'] as const

/**
 * The settings of the visible connection that option `sameAs` (or its config
 * key) names: where it goes (address, db, credentials, TLS) and its
 * clientOptions but the client name, unless this one gives its own. Undefined
 * without `sameAs`.
 */
export function sameAsOf (source: Source, visible: (name: string) => ConnectionSpec | undefined): Copied | undefined {
  const found = source.get('sameAs')
  if (found === undefined) return undefined
  const name = source.string('sameAs')!.toLowerCase()
  for (const option of WHERE) {
    const other = source.get(option)
    if (other !== undefined) source.fail(other.where, `cannot be combined with ${found.where}: the connection goes where connection "${name}" goes`)
  }
  if (source.options.client !== undefined) source.fail('option "client"', `cannot be combined with ${found.where}`)
  const base = visible(name)
  if (base === undefined) source.fail(found.where, `names connection "${name}", which is not registered in this context or a parent (register it first, and await it)`)
  const kind = base.client !== undefined
    ? 'a client passed in'
    : base.cluster !== undefined
      ? 'a cluster'
      /* c8 ignore next -- the same check as a cluster's; a Sentinel connection needs sentinels running (node-redis 5+) */
      : base.sentinel !== undefined ? 'a Sentinel' : undefined
  if (kind !== undefined) source.fail(found.where, `names connection "${name}", which is ${kind}: sameAs copies the settings of a single connection the plugin built`)
  const { name: _clientName, ...clientOptions } = base.clientOptions as Record<string, unknown>
  const { target, tls, host, port, socketPath, db, username, password } = base
  return { target, tls, host, port, socketPath, db, username, password, clientOptions: Object.freeze(clientOptions) }
}
