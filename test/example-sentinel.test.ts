import { test } from 'tap'
import { build } from '../example-app/app'
import { isSentinel } from '../lib/driver/sentinel'
import { eventually } from './helpers/app'
import { since5 } from './helpers/major'
import { startSentinel } from './helpers/sentinel'
import { SECRET, testUsers, login, PASSWORDS } from './helpers/example'
import { guardedLogger, secret } from './helpers/secret-guard'

const PW = secret('example-sentinel-Pa55')

test('the example app runs on Redis Sentinel by configuration alone, across a failover', { skip: since5('Sentinel client') }, async (t) => {
  const setup = await startSentinel(t, { password: PW })
  const nodes = setup.urls.join(',')
  const app = build({
    logger: guardedLogger(),
    env: false,
    config: {
      REDIS_SENTINEL_NODES: nodes,
      REDIS_SENTINEL_NAME: setup.name,
      REDIS_PASSWORD: PW,
      SESSIONS_SENTINEL_NODES: nodes,
      SESSIONS_SENTINEL_NAME: setup.name,
      SESSIONS_PASSWORD: PW,
      SESSION_SECRET: SECRET,
      USERS: await testUsers(),
      COOKIE_SECURE: false
    }
  })
  t.teardown(() => app.close())
  await app.ready()
  t.ok(isSentinel(app.redis.redis), 'things go through a Sentinel client')
  t.ok(isSentinel(app.redis.sessions), 'and so do sessions')

  // The things API.
  for (let i = 0; i < 5; i++) {
    const put = await app.inject({ method: 'PUT', url: `/things/s/${i}`, payload: { n: i, nested: { ok: true }, none: null } })
    t.equal(put.statusCode, 201)
  }
  for (let i = 0; i < 5; i++) t.match((await app.inject(`/things/s/${i}`)).json(), { n: i, nested: { ok: true }, none: null, ttl: Number })
  t.equal((await app.inject('/things/s/none')).statusCode, 404)
  const master = await setup.master()
  t.equal(await master.command('SELECT', '1').then(async () => await master.command('DBSIZE')), 0, 'no session yet, in db 1')

  // Sessions: login, a cart across requests.
  const cookie = await login(app, 'alice', PASSWORDS.alice)
  const cookies = { sessionId: cookie }
  t.same((await app.inject({ url: '/me', cookies })).json(), { username: 'alice' })
  t.equal((await app.inject({ method: 'POST', url: '/cart/items', payload: { id: 'apple', qty: 2 }, cookies })).statusCode, 200)
  t.same((await app.inject({ url: '/cart', cookies })).json(), { items: [{ id: 'apple', qty: 2 }] })
  t.match((await app.inject('/health')).json(), { ok: true, connections: { redis: { status: 'ready' }, sessions: { status: 'ready' } } })

  // The master dies: requests fail with 503 at once, then work again on the promoted replica, with the same data.
  await eventually(async () => String(await master.command('INFO', 'replication')).match(/state=online/g)?.length === 2, 5000)
  await master.kill()
  const during = await app.inject('/things/s/1')
  t.equal(during.statusCode, 503, 'a request while the master is down gets a 503')
  t.equal((await app.inject('/health')).statusCode, 503)
  const promoted = await setup.waitForNewMaster(master.port)
  t.not(promoted, master.port)
  await eventually(async () => (await app.inject('/things/s/1')).statusCode === 200, 20000, 100)
  t.match((await app.inject('/things/s/1')).json(), { n: 1, nested: { ok: true } }, 'the things survived the failover')
  await eventually(async () => (await app.inject({ url: '/cart', cookies })).statusCode === 200, 20000, 100)
  t.same((await app.inject({ url: '/cart', cookies })).json(), { items: [{ id: 'apple', qty: 2 }] }, 'so did the session and its cart')
  t.equal((await app.inject({ method: 'POST', url: '/cart/items', payload: { id: 'pear', qty: 1 }, cookies })).statusCode, 200)
  t.same((await app.inject({ url: '/cart', cookies })).json(), { items: [{ id: 'apple', qty: 2 }, { id: 'pear', qty: 1 }] })
  t.equal((await app.inject({ method: 'POST', url: '/logout', cookies })).statusCode, 204)
  t.equal((await app.inject({ url: '/me', cookies })).statusCode, 401)
  await eventually(async () => (await app.inject('/health')).statusCode === 200, 5000)
  t.pass('health is ok again')
})
