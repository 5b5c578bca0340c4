import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { FST_REDIS_CLIENT_CLASS } from './errors'
import type { ClientBuilder } from './options'

/** Loads `specifier#export` the way the application itself would. */
async function load (spec: string, name: string): Promise<unknown> {
  const hash = spec.lastIndexOf('#')
  const specifier = hash === -1 ? spec : spec.slice(0, hash)
  const exportName = hash === -1 ? 'default' : spec.slice(hash + 1)
  const fail = (problem: string, cause?: unknown): never => {
    throw new FST_REDIS_CLIENT_CLASS(`connection "${name}": clientClass ${JSON.stringify(spec)} ${problem}`, { cause })
  }
  if (specifier === '' || exportName === '') fail('is not of the form "specifier#export"')
  // Relative paths resolve from the working directory, bare names from the
  // application's node_modules, not from this package's.
  const requireFromApp = createRequire(join(process.cwd(), 'noop.js'))
  let file: string
  try {
    file = requireFromApp.resolve(specifier)
  } catch (err) {
    return fail(`cannot be resolved from ${process.cwd()}: module ${JSON.stringify(specifier)} not found`, err)
  }
  let ns: Record<string, unknown>
  try {
    ns = await import(pathToFileURL(file).href)
  } catch (err) {
    return fail(`failed to load: ${(err as Error).message}`, err)
  }
  // A CommonJS module arrives as { default: module.exports, ...named }.
  const cjs = ns.default as Record<string, unknown> | undefined
  let value = exportName in ns ? ns[exportName] : cjs?.[exportName]
  if (exportName === 'default' && value !== null && typeof value === 'object' && typeof (value as Record<string, unknown>).default === 'function') {
    value = (value as Record<string, unknown>).default
  }
  if (value === undefined) fail(`has no export ${JSON.stringify(exportName)} in ${specifier}`)
  return value
}

function isClass (fn: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn))
}

/** Builds the client with a function (called) or a class (constructed). */
export async function resolveBuilder (clientClass: ClientBuilder | string, name: string): Promise<(options: object) => unknown> {
  const label = typeof clientClass === 'string' ? `clientClass ${JSON.stringify(clientClass)}` : 'clientClass'
  const value = typeof clientClass === 'string' ? await load(clientClass, name) : clientClass
  if (typeof value !== 'function') {
    throw new FST_REDIS_CLIENT_CLASS(`connection "${name}": ${label} is not a function or a class (it is ${value === null ? 'null' : typeof value})`)
  }
  const build = isClass(value)
    ? (options: object) => new (value as new (o: object) => unknown)(options)
    : (options: object) => (value as (o: object) => unknown)(options)
  return (options: object) => {
    let client: unknown
    try {
      client = build(options)
    } catch (err) {
      throw new FST_REDIS_CLIENT_CLASS(`connection "${name}": ${label} threw while building the client: ${(err as Error)?.message}`, { cause: err })
    }
    const c = client as Record<string, unknown> | null
    if (typeof c !== 'object' || c === null || typeof c.connect !== 'function' || typeof c.on !== 'function' || typeof c.disconnect !== 'function') {
      throw new FST_REDIS_CLIENT_CLASS(`connection "${name}": ${label} returned ${c === null ? 'null' : typeof c}, not a node-redis client (an object with connect(), disconnect() and on())`)
    }
    return client
  }
}
