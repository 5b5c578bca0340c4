import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { FST_REDIS_CLIENT_CLASS, show } from './errors'
import type { ClientBuilder } from './options'

/** What the connection calls on every client, so a builder's result must have them. */
const CLIENT_METHODS = ['connect', 'disconnect', 'ping', 'on', 'off'] as const
// A node-redis cluster has no ping(); the plugin pings its nodes instead.
const CLUSTER_METHODS = ['connect', 'disconnect', 'nodeClient', 'on', 'off'] as const
// A Sentinel client has no disconnect(); the plugin asks it for its master.
const SENTINEL_METHODS = ['connect', 'destroy', 'ping', 'getMasterNode', 'getSentinelNode', 'on', 'off'] as const
const METHODS = { client: CLIENT_METHODS, cluster: CLUSTER_METHODS, sentinel: SENTINEL_METHODS } as const

const NAMES = { client: 'client', cluster: 'cluster', sentinel: 'Sentinel client' } as const

/** What a connection is: what its clientClass must build. */
export type Kind = keyof typeof METHODS

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] : show(err)
}

/** Loads `specifier#export` the way the application itself would. */
async function load (spec: string, name: string): Promise<unknown> {
  // A leading "#" starts a subpath import of the application (`#lib/redis`),
  // not an export name.
  const hash = spec.lastIndexOf('#')
  const specifier = hash <= 0 ? spec : spec.slice(0, hash)
  const exportName = hash <= 0 ? 'default' : spec.slice(hash + 1)
  const fail = (problem: string, cause?: unknown): never => {
    throw new FST_REDIS_CLIENT_CLASS(`connection "${name}": clientClass ${JSON.stringify(spec)} ${problem}`, { cause })
  }
  if (exportName === '') fail('is not of the form "specifier#export"')
  // Relative paths resolve from the working directory, bare names from the
  // application's node_modules, not from this package's.
  const requireFromApp = createRequire(join(process.cwd(), 'noop.js'))
  let file: string
  try {
    file = requireFromApp.resolve(specifier)
  } catch (err) {
    return fail(`cannot be resolved from ${process.cwd()}: ${messageOf(err)}`, err)
  }
  let ns: Record<string, unknown>
  try {
    ns = await import(pathToFileURL(file).href)
  } catch (err) {
    return fail(`failed to load: ${messageOf(err)}`, err)
  }
  // A CommonJS module arrives as { default: module.exports, ...the named
  // exports Node could detect }: look the others up on module.exports.
  const cjs: unknown = ns.default
  let value = exportName in ns
    ? ns[exportName]
    : Object.hasOwn(Object(cjs), exportName) ? (cjs as Record<string, unknown>)[exportName] : undefined
  // A CommonJS build of an ES module keeps its default export on `.default`.
  if (exportName === 'default' && (value as { __esModule?: unknown } | null)?.__esModule === true) {
    value = (value as { default?: unknown }).default
  }
  if (value === undefined) fail(`has no export ${JSON.stringify(exportName)} (module ${file})`)
  return value
}

/** Whether `fn` must be called with `new`: a class, or an ES5 constructor with methods. */
function isClass (fn: Function): boolean {
  if (/^class[\s{]/.test(Function.prototype.toString.call(fn))) return true
  const proto: unknown = fn.prototype
  return typeof proto === 'object' && proto !== null && Object.getOwnPropertyNames(proto).some((key) => key !== 'constructor')
}

/** Why `client` cannot be used as a node-redis client, or undefined if it can. */
function notAClient (client: unknown, kind: Kind): string | undefined {
  if (typeof client !== 'object' || client === null) return show(client)
  if (typeof (client as { then?: unknown }).then === 'function') {
    return 'a Promise (build the client synchronously and leave connect() to the plugin)'
  }
  const missing = (METHODS[kind] as readonly string[]).filter((method) => typeof (client as Record<string, unknown>)[method] !== 'function')
  return missing.length === 0 ? undefined : `an object without ${missing.map((m) => `${m}()`).join(', ')}`
}

/**
 * Turns `clientClass` into the function that builds the client: a function is
 * called, a class is constructed, a string `specifier#export` is loaded first.
 */
export async function resolveBuilder (clientClass: ClientBuilder | string, name: string, kind: Kind = 'client'): Promise<(options: object) => unknown> {
  const label = typeof clientClass === 'string' ? `clientClass ${JSON.stringify(clientClass)}` : 'clientClass'
  const value = typeof clientClass === 'string' ? await load(clientClass, name) : clientClass
  if (typeof value !== 'function') {
    throw new FST_REDIS_CLIENT_CLASS(`connection "${name}": ${label} is not a function or a class, it is ${show(value)}`)
  }
  const construct = isClass(value)
  return (options: object) => {
    let client: unknown
    try {
      client = construct ? Reflect.construct(value, [options]) : value(options)
    } catch (err) {
      throw new FST_REDIS_CLIENT_CLASS(`connection "${name}": ${label} threw while building the client: ${messageOf(err)}`, { cause: err })
    }
    const problem = notAClient(client, kind)
    if (problem !== undefined) {
      throw new FST_REDIS_CLIENT_CLASS(`connection "${name}": ${label} returned ${problem}, not a node-redis ${NAMES[kind]}`)
    }
    return client
  }
}
