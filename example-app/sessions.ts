import fastifyCookie from '@fastify/cookie'
import fastifySession, { type SessionStore } from '@fastify/session'
import { RedisStore } from 'connect-redis'
import type { FastifyPluginAsync } from 'fastify'
import type { RedisClient } from 'fastify-node-redis'
import { BadCredentials, CartFull, HttpsRequired, NotInCart, NotLoggedIn, within } from './errors'
import { verifyPassword } from './passwords'

/** One line of the cart. */
export interface CartItem {
  id: string
  qty: number
}

declare module 'fastify' {
  interface Session {
    /** Who logged in with this session. */
    user?: string
    cart?: CartItem[]
  }
}

/** Session keys in Redis: `sess:<session id>`, apart from `thing:` keys. */
export const SESSION_PREFIX = 'sess:'
export const COOKIE_NAME = 'sessionId'
export const MAX_ITEMS = 100
export const MAX_QTY = 1000
const ITEM_ID = '^[A-Za-z0-9._@-]{1,64}$'

export interface SessionsOptions {
  client: RedisClient
  /** Signs the session cookie (32 characters or more). */
  secret: string
  /** Users by name: their scrypt hashes. */
  users: ReadonlyMap<string, string>
  /** A hash of no one's password: unknown users cost the same scrypt as known ones. */
  decoy: string
  /** Seconds a session lives after its last request. */
  ttl: number
  /**
   * The cookie's `Secure` attribute: `auto` follows the request's protocol
   * (HTTPS, or `X-Forwarded-Proto: https` from a trusted proxy); `true`
   * refuses plain-HTTP requests on session routes.
   */
  secure: boolean | 'auto'
  /** Milliseconds a Redis round trip may take. */
  timeout: number
}

/**
 * connect-redis 8 (written for express-session, works with node-redis v4)
 * behind the callback interface @fastify/session calls, with a deadline on
 * every round trip so a stalled Redis cannot hang a request.
 */
function sessionStore (client: RedisClient, timeout: number): SessionStore {
  const store = new RedisStore({ client, prefix: SESSION_PREFIX })
  return {
    get (sid, callback) {
      within(store.get(sid), timeout).then((session) => callback(null, session), callback)
    },
    set (sid, session, callback) {
      within(store.set(sid, session), timeout).then(() => callback(), callback)
    },
    destroy (sid, callback) {
      within(store.destroy(sid), timeout).then(() => callback(), callback)
    }
  }
}

const login = {
  body: {
    type: 'object',
    required: ['username', 'password'],
    properties: {
      username: { type: 'string', minLength: 1, maxLength: 64 },
      password: { type: 'string', minLength: 1, maxLength: 1024 }
    }
  }
} as const

const addItem = {
  body: {
    type: 'object',
    required: ['id'],
    properties: {
      id: { type: 'string', pattern: ITEM_ID },
      qty: { type: 'integer', minimum: 1, maximum: MAX_QTY, default: 1 }
    }
  }
} as const

const itemParams = {
  params: {
    type: 'object',
    properties: { id: { type: 'string', pattern: ITEM_ID } }
  }
} as const

/**
 * Server-side sessions in Redis, as in "Flask-Session with Redis": login,
 * logout, and a cart that lives in the session.
 */
export const sessions: FastifyPluginAsync<SessionsOptions> = async function sessions (app, options) {
  const { users, decoy, secure } = options

  // @fastify/session silently skips the cookie of a Secure session on plain
  // HTTP: with COOKIE_SECURE=true, refuse such requests with a clear answer
  // instead. Added before the session plugin, so it runs before the store is
  // asked. Hooks of this plugin run on its own routes only, never on /things.
  if (secure === true) {
    app.addHook('onRequest', function (request, _reply, done) {
      done(request.protocol === 'https' ? undefined : new HttpsRequired())
    })
  }

  // An error answer never saves the session: a failed request leaves it as
  // it was, and a 503 does not try to write to the Redis that is down.
  // Throwing hands the error on to the app's handler.
  app.setErrorHandler(function (err, request) {
    (request as { session: unknown }).session = null
    throw err
  })

  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret: options.secret,
    cookieName: COOKIE_NAME,
    cookie: { secure, httpOnly: true, sameSite: 'lax', path: '/', maxAge: options.ttl * 1000 },
    // No session (and no cookie) until there is something to keep.
    saveUninitialized: false,
    store: sessionStore(options.client, options.timeout)
  })

  app.post('/login', { schema: login }, async function (request) {
    const { username, password } = request.body as { username: string, password: string }
    const hash = users.get(username)
    const matches = await verifyPassword(password, hash ?? decoy)
    if (hash === undefined || !matches) throw new BadCredentials()
    // A new session id at login (session fixation); the cart comes along.
    await request.session.regenerate(['cart'])
    request.session.user = username
    return { username }
  })

  app.post('/logout', async function (request, reply) {
    await request.session.destroy()
    return reply.clearCookie(COOKIE_NAME, { path: '/' }).code(204).send()
  })

  app.get('/me', async function (request) {
    const username = request.session.user
    if (username === undefined) throw new NotLoggedIn()
    return { username }
  })

  app.get('/cart', async function (request) {
    return { items: request.session.cart ?? [] }
  })

  app.post('/cart/items', { schema: addItem }, async function (request) {
    const { id, qty } = request.body as CartItem
    const items = request.session.cart ?? []
    const line = items.find((item) => item.id === id)
    if (line === undefined && items.length >= MAX_ITEMS) throw new CartFull(`the cart already holds ${MAX_ITEMS} different items`)
    if ((line?.qty ?? 0) + qty > MAX_QTY) throw new CartFull(`at most ${MAX_QTY} of one item`)
    request.session.cart = line === undefined
      ? [...items, { id, qty }]
      : items.map((item) => item.id === id ? { id, qty: item.qty + qty } : item)
    return { items: request.session.cart }
  })

  app.delete('/cart/items/:id', { schema: itemParams }, async function (request) {
    const { id } = request.params as { id: string }
    const items = request.session.cart ?? []
    if (!items.some((item) => item.id === id)) throw new NotInCart(JSON.stringify(id))
    request.session.cart = items.filter((item) => item.id !== id)
    return { items: request.session.cart }
  })
}
