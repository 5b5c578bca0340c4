import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { promisify } from 'node:util'

// scrypt with Node's default cost (N=2^14, r=8, p=1): ~50 ms and 16 MiB per
// hash, fine for a login route. The parameters are fixed, so a stored hash is
// just `scrypt$<salt, 16 bytes hex>$<key, 64 bytes hex>`.
const SCRYPT: ScryptOptions = { N: 16384, r: 8, p: 1 }
const SALT_BYTES = 16
const KEY_BYTES = 64
const HASH = /^scrypt\$([0-9a-f]{32})\$([0-9a-f]{128})$/i

/** What a user name may look like in `USERS` (no `:`, `,` or spaces). */
export const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/

/** The documented format of a password hash, for error messages. */
export const HASH_FORMAT = 'scrypt$<32 hex digits of salt>$<128 hex digits of key>'

// Async, so a login does not block the event loop while it hashes.
const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: ScryptOptions) => Promise<Buffer>

async function derive (password: string, salt: Buffer): Promise<Buffer> {
  return await scryptAsync(password, salt, KEY_BYTES, SCRYPT)
}

/** Hashes a password as `scrypt$<salt-hex>$<key-hex>`, with a fresh random salt. */
export async function hashPassword (password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt)
  return `scrypt$${salt.toString('hex')}$${key.toString('hex')}`
}

/** Whether `hash` has the format `hashPassword` produces. */
export function isPasswordHash (hash: string): boolean {
  return HASH.test(hash)
}

/**
 * Compares a password with a stored hash: always runs scrypt, and compares
 * the keys in constant time.
 */
export async function verifyPassword (password: string, hash: string): Promise<boolean> {
  const [, salt, key] = HASH.exec(hash)!
  const expected = Buffer.from(key, 'hex')
  const actual = await derive(password, Buffer.from(salt, 'hex'))
  return timingSafeEqual(actual, expected)
}

/**
 * Parses `USERS`: comma-separated `name:hash` pairs, e.g.
 * `alice:scrypt$…$…,bob:scrypt$…$…`. Throws an error naming the bad entry
 * (never showing the hash).
 */
export function parseUsers (users: string): Map<string, string> {
  const parsed = new Map<string, string>()
  const entries = users.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(':')
    const name = colon === -1 ? entry : entry.slice(0, colon)
    const hash = colon === -1 ? '' : entry.slice(colon + 1)
    const where = `USERS entry ${index + 1}`
    if (!USER_NAME.test(name)) {
      throw new Error(`${where}: the user name must match ${USER_NAME}; the format is name:${HASH_FORMAT}, comma-separated`)
    }
    if (!isPasswordHash(hash)) {
      throw new Error(`${where} ("${name}"): the hash must look like ${HASH_FORMAT}; make one with \`node --import tsx example-app/hash-password.ts ${name}\``)
    }
    if (parsed.has(name)) throw new Error(`${where}: user "${name}" is listed twice`)
    parsed.set(name, hash)
  })
  if (parsed.size === 0) throw new Error('USERS is set but lists no user; the format is name:' + HASH_FORMAT + ', comma-separated')
  return parsed
}
