/** The command a method sends, by its name: `clientList` and `CLIENT_LIST` both give `CLIENTLIST`. */
export function commandKey (name: string): string {
  return name.replace(/_/g, '').toUpperCase()
}

/** The names of the command methods of `target`: every method whose name, underscores dropped and upper-cased, is also that of an upper-case method (`hGetAll` and `HGETALL`). */
function commandNames (target: object): string[] {
  const methods = new Set<string>()
  for (let o = Object.getPrototypeOf(target); o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (typeof Object.getOwnPropertyDescriptor(o, name)?.value === 'function') methods.add(name)
    }
  }
  const upper = new Set([...methods].filter((name) => /^[A-Z][A-Z0-9_]*$/.test(name)).map(commandKey))
  // MULTI builds a transaction (counted at its exec()), it sends nothing.
  upper.delete('MULTI')
  return [...methods].filter((name) => upper.has(commandKey(name)) || name === 'sendCommand')
}

/**
 * Puts a layer between `target` and its prototype holding `method(name)`
 * for each of its command methods but those in `skip` (read before the layer is in), and
 * returns what takes the layer out again while it is still the first.
 */
export function layerCommands (target: object, method: (name: string) => Function, skip: ReadonlySet<string> = new Set()): () => void {
  const proto = Object.getPrototypeOf(target) as object
  const layer = Object.create(proto) as Record<string, unknown>
  for (const name of commandNames(target)) if (!skip.has(name)) layer[name] = method(name)
  Object.setPrototypeOf(target, layer)
  return () => { if (Object.getPrototypeOf(target) === layer) Object.setPrototypeOf(target, proto) }
}
