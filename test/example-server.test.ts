// The example app as the processes a user starts: example-app/server.ts and
// `npm run example`, failing to start and stopped by signals (the fresh
// machine's view is in example-fresh.test.ts). Child processes start slowly
// (a TypeScript loader each): they run side by side.
import { createServer } from 'node:net'
import { test } from 'tap'
import { CLOSE_BOUND_MS } from '../example-app/app'
import { runNode, runNpmExample, type Run, SECRET, testUsers } from './helpers/example'
import { freePort, startRedis } from './helpers/redis'

// Child processes start slowly (a TypeScript loader each): they run side by side.

test('server.ts: a failed start is one clear line and a non-zero exit; the "is Redis running?" hint only when it cannot be reached', async (t) => {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}/0`
  const env = { REDIS_URL: url, SESSIONS_URL: `redis://127.0.0.1:${port}/1`, PORT: '0' }
  const redis = await startRedis(t)
  // Exactly as `npm run example` runs it, and once more for coverage; and a
  // Redis that answers, but refuses the database.
  const outOfRange = runNode(t, 'example-app/server.ts', { env: { ...env, REDIS_URL: `redis://127.0.0.1:${redis.port}/99` } }).done
  const runs = await Promise.all([true, false].map(async (exact) => await runNode(t, 'example-app/server.ts', { exact, env }).done))
  const refused = await outOfRange
  t.equal(refused.code, 1)
  t.match(refused.stderr.trim(), /^example-app: cannot start: .*ERR DB index is out of range[^\n]*$/)
  t.notMatch(refused.stderr, /is Redis running/, 'no "is Redis running?" when Redis answered')
  for (const run of runs) {
    t.equal(run.code, 1, 'exit code 1')
    const lines = run.stderr.split('\n').filter((l) => l.trim() !== '')
    t.equal(lines.length, 1, `one line on stderr: ${run.stderr}`)
    t.match(lines[0], `example-app: cannot start: fastify-node-redis: connection "redis" to ${url} failed at startup`)
    t.match(lines[0], /ECONNREFUSED/)
    t.match(lines[0], /Start one with `redis-server`/)
    t.match(lines[0], /REDIS_URL/)
  }
})

test('npm run example and server.ts serve on HOST:PORT and stop on SIGINT or SIGTERM to the npm process within the close bound; a port in use is one line and exit 1', async (t) => {
  const redis = await startRedis(t)
  const env = {
    REDIS_URL: `redis://127.0.0.1:${redis.port}/0`,
    SESSIONS_URL: `redis://127.0.0.1:${redis.port}/1`,
    SESSION_SECRET: SECRET,
    USERS: await testUsers(),
    HOST: '127.0.0.1',
    PORT: '0'
  }
  const busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => busy.close())

  // `npm run example` itself, stopped by a signal to the npm process alone
  // (as a process manager sends it); server.ts with coverage, stopped by
  // SIGINT twice (Ctrl-C under npm reaches node twice: from the terminal and
  // from npm); and one on a port already taken.
  const terminated = runNpmExample(t, { env })
  const interrupted = runNpmExample(t, { env })
  // Its own Redis, paused before the signals so that closing takes a while.
  const stalled = await startRedis(t)
  const covered = runNode(t, 'example-app/server.ts', {
    env: {
      ...env,
      REDIS_URL: `redis://127.0.0.1:${stalled.port}/0`,
      SESSIONS_URL: `redis://127.0.0.1:${stalled.port}/1`,
      REDIS_CLOSE_TIMEOUT: '1000',
      SESSIONS_CLOSE_TIMEOUT: '1000'
    }
  })
  const taken = runNode(t, 'example-app/server.ts', { exact: true, env: { ...env, PORT: String((busy.address() as { port: number }).port) } })

  const [listening] = await Promise.all([terminated, interrupted, covered].map(async (run) => await run.line(/Server listening at/)))
  const base = /(http:\/\/127\.0\.0\.1:\d+)/.exec(listening)![1]
  const put = await fetch(`${base}/things/over/http`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"a":[1,true]}' })
  t.equal(put.status, 201)
  t.strictSame(await (await fetch(`${base}/things/over/http`)).json(), { a: [1, true], ttl: 31104000 })

  const stopped = Date.now()
  terminated.kill('SIGTERM')
  interrupted.kill('SIGINT')
  stalled.pause()
  t.teardown(() => stalled.resume())
  covered.kill('SIGINT')
  await covered.line(/SIGINT: closing/)
  covered.kill('SIGINT') // while it closes: ignored
  const timed = async (run: ReturnType<typeof runNode>): Promise<Run & { ms: number }> => ({ ...await run.done, ms: Date.now() - stopped })
  const [byTerm, byInt, byCtrlC, refused] = await Promise.all([timed(terminated), timed(interrupted), timed(covered), taken.done])
  for (const [name, run, signal] of [['npm, SIGTERM', byTerm, 'SIGTERM'], ['npm, SIGINT', byInt, 'SIGINT'], ['server.ts, SIGINT twice, Redis paused', byCtrlC, 'SIGINT']] as const) {
    t.match(run.stdout, `${signal}: closing`, `${name}: the app closes`)
    t.equal(run.stdout.split(`${signal}: closing`).length, 2, `${name}: once`)
    t.ok(run.ms < CLOSE_BOUND_MS, `${name}: stopped in ${run.ms} ms (bound ${CLOSE_BOUND_MS} ms)`)
  }
  t.equal(byCtrlC.code, 0, 'server.ts: a clean exit')
  // npm re-raises the signal on itself once its script has exited.
  t.ok(byTerm.code === 0 || byTerm.signal === 'SIGTERM', `npm: exit ${byTerm.code} ${byTerm.signal}`)
  t.equal(refused.code, 1, 'a port in use: exit 1')
  t.match(refused.stderr.trim(), /^example-app: cannot start: .*EADDRINUSE[^\n]*$/)
  t.notMatch(refused.stderr, /redis-server/, 'no Redis hint when Redis is not the problem')
})
