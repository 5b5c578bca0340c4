import { test } from 'tap'
import { request, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import fastifyRedis from 'fastify-node-redis'
import { eventsConfig, type AppConfig } from '../example-app/config'
import { things } from '../example-app/things'
import { eventually, testApp } from './helpers/app'
import { buildExample } from './helpers/example'
import { startRedis } from './helpers/redis'

interface Stream {
  response: IncomingMessage
  /** Every `data:` of an `event: put` so far, parsed. */
  events: unknown[]
  text: () => string
}

/** Opens GET <path> on the listening app and collects its server-sent events. */
async function open (port: number, path: string): Promise<Stream> {
  return await new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path }, (response) => {
      let text = ''
      const events: unknown[] = []
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        text += chunk
        events.length = 0
        for (const block of text.split('\n\n')) {
          const data = /^event: put\ndata: (.*)$/m.exec(block)
          if (data !== null) events.push(JSON.parse(data[1]))
        }
      })
      resolve({ response, events, text: () => text })
    })
    req.on('error', reject)
    req.end()
  })
}

test('GET /things/<path>/events streams the PUTs to that path, also after Redis restarts', async (t) => {
  const redis = await startRedis(t)
  const { app } = await buildExample(t, redis)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const stream = await open(port, '/things/fruit/apple/events')
  t.teardown(() => stream.response.destroy())
  t.equal(stream.response.statusCode, 200)
  t.match(stream.response.headers['content-type'], /^text\/event-stream/)
  const put = async (path: string, body: object): Promise<number> => (await app.inject({ method: 'PUT', url: `/things/${path}`, payload: body })).statusCode

  t.equal(await put('fruit/apple', { color: 'red' }), 201)
  t.equal(await put('fruit/pear', { color: 'green' }), 201, 'another path: not on this stream')
  await eventually(async () => stream.events.length === 1)
  t.match(stream.events[0], { color: 'red', ttl: 360 * 24 * 60 * 60 })

  await redis.kill()
  t.equal(await put('fruit/apple', { color: 'lost' }), 503, 'a PUT while Redis is down is refused, and sends nothing')
  await redis.restart()
  // The subscriber logs its recovery at info level, below this app's warn: wait for a PUT to arrive instead.
  await eventually(async () => {
    await put('fruit/apple', { color: 'green' })
    return stream.events.some((e) => (e as { color: string }).color === 'green')
  }, 10000, 100)
  t.notOk(stream.events.some((e) => (e as { color: string }).color === 'lost'))
  t.equal(stream.response.complete, false, 'the same stream, still open')

  await app.close()
  await eventually(async () => stream.response.complete, 2000)
  t.match(stream.text(), /^: subscribed\n\n/)
})

test('the feed answers 503 while Redis is down, before the stream starts', async (t) => {
  const redis = await startRedis(t)
  const { app } = await buildExample(t, redis)
  await redis.kill()
  await eventually(async () => !app.redis.redis.isReady)
  const res = await app.inject('/things/a/events')
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'EXAMPLE_REDIS_UNAVAILABLE')
})

test('without a subscriber (Sentinel and no EVENTS_URL) the feed is off: 501 says how to turn it on', async (t) => {
  const redis = await startRedis(t)
  t.same(eventsConfig({ REDIS_SENTINEL_NODES: 'redis://127.0.0.1:26379' } as AppConfig), undefined)
  t.same(eventsConfig({ REDIS_SENTINEL_NODES: 'redis://s:26379', EVENTS_URL: 'redis://m:6379' } as AppConfig), { REDIS_SENTINEL_NODES: 'redis://s:26379', EVENTS_URL: 'redis://m:6379' })
  t.match(eventsConfig({ REDIS_CLUSTER_NODES: 'redis://a:7000, redis://b:7001', REDIS_PASSWORD: 'pw' } as AppConfig), { EVENTS_URL: 'redis://a:7000', EVENTS_PASSWORD: 'pw' })
  const app = testApp()
  t.teardown(() => app.close())
  await app.register(fastifyRedis, { port: redis.port })
  await app.register(things, { client: app.redis.redis, ttl: 60, timeout: 1000 })
  const res = await app.inject('/things/a/events')
  t.equal(res.statusCode, 501)
  t.match(res.json(), { code: 'EXAMPLE_NO_FEED', message: /with Sentinel \(REDIS_SENTINEL_NODES\) it is off, set EVENTS_URL to the master/ })
  t.equal((await app.inject('/things/events')).statusCode, 404, 'a path that is only "events" is a thing')
})
