import { test } from 'tap'
import { build } from '../example-app/app'
import { startCluster } from './helpers/cluster'
import { SECRET, testUsers, login, PASSWORDS } from './helpers/example'
import { guardedLogger } from './helpers/secret-guard'

test('the example app runs on a Redis Cluster by configuration alone', async (t) => {
  const cluster = await startCluster(t)
  const nodes = cluster.rootUrls.join(',')
  const app = build({
    logger: guardedLogger(),
    env: false,
    config: { REDIS_CLUSTER_NODES: nodes, SESSIONS_CLUSTER_NODES: nodes, SESSION_SECRET: SECRET, USERS: await testUsers(), COOKIE_SECURE: false }
  })
  t.teardown(() => app.close())
  await app.ready()
  t.ok('masters' in (app.redis.redis as object), 'things go through a cluster client')
  t.ok('masters' in (app.redis.sessions as object), 'and so do sessions')

  // The things API: objects spread over every master.
  const masters = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const put = await app.inject({ method: 'PUT', url: `/things/c/${i}`, payload: { n: i, nested: { ok: true } } })
    t.equal(put.statusCode, 201)
    masters.add(await cluster.masterOf(`thing:c/${i}`))
  }
  t.equal(masters.size, 3, 'the things live on all three masters')
  for (let i = 0; i < 20; i++) {
    const get = await app.inject(`/things/c/${i}`)
    t.match(get.json(), { n: i, nested: { ok: true }, ttl: Number })
  }
  t.equal((await app.inject('/things/c/none')).statusCode, 404)

  // Sessions: login, a cart across requests, logout.
  const cookie = await login(app, 'alice', PASSWORDS.alice)
  const cookies = { sessionId: cookie }
  t.same((await app.inject({ url: '/me', cookies })).json(), { username: 'alice' })
  t.equal((await app.inject({ method: 'POST', url: '/cart/items', payload: { id: 'apple', qty: 2 }, cookies })).statusCode, 200)
  t.same((await app.inject({ url: '/cart', cookies })).json(), { items: [{ id: 'apple', qty: 2 }] })
  t.equal((await app.inject({ method: 'POST', url: '/logout', cookies })).statusCode, 204)
  t.equal((await app.inject({ url: '/me', cookies })).statusCode, 401)

  t.match((await app.inject('/health')).json(), { ok: true, connections: { redis: { status: 'ready' }, sessions: { status: 'ready' } } })
})
