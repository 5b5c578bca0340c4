// The example app as the processes a user starts: example-app/server.ts and
// `npm run example`, with signals, and on a fresh machine (a network
// namespace of the test's own, where nothing listens on 6379). Child
// processes start slowly (a TypeScript loader each): they run side by side.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'tap'
import { CLOSE_BOUND_MS } from '../example-app/app'
import { answers, INSTALL_REDIS, redisConfigured, startPrivateRedis } from '../example-app/local-redis'
import { inNetworkOf, inOwnNetwork, runNode, runNpmExample, type Run, SECRET, testUsers } from './helpers/example'
import { freePort, startRedis } from './helpers/redis'
import { matchesTranscript, transcript } from './helpers/transcript'

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
  const taken = runNode(t, 'example-app/server.ts', { env: { ...env, PORT: String((busy.address() as { port: number }).port) } })

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

test('npm run example on a fresh machine (its own network namespace, nothing on 6379): a private redis-server, the walkthrough answers as documented, stopped with the app', async (t) => {
  const app = runNpmExample(t, { wrap: inOwnNetwork })
  const started = await app.line(/started a private redis-server/)
  await app.line(/Server listening at http:\/\/127\.0\.0\.1:3000/)
  const line = (JSON.parse(started) as { msg: string }).msg
  t.match(line, /^no REDIS_\* or SESSIONS_\* setting and nothing on localhost:6379: started a private redis-server at redis:\/\/127\.0\.0\.1:\d+ \(data in \S+, not saved; it stops with the app\)$/)
  const folder = /data in (\S+),/.exec(line)![1]
  const port = /127\.0\.0\.1:(\d+)/.exec(line)![1]
  t.ok(existsSync(folder), 'its temporary folder')
  // The cookie jar of the walkthrough's curl commands.
  const jars = mkdtempSync(join(tmpdir(), 'example-walkthrough-'))
  t.teardown(() => rmSync(jars, { recursive: true, force: true }))
  const steps = transcript(readFileSync('docs/example-app.md', 'utf8'))
  t.ok(steps.length >= 10, `${steps.length} steps in docs/example-app.md`)
  for (const step of transcript(readFileSync('docs/example-app.md', 'utf8'))) {
    // redis-cli: the private server's port, and its formatted output even though stdout is no terminal.
    const command = step.command.replace(/^redis-cli /, `redis-cli --no-raw -p ${port} `)
    const out = await inNetworkOf(app.pid, ['/bin/sh', '-c', `cd '${jars}' && ${command}`])
    t.ok(matchesTranscript(out, step.expected), `$ ${step.command}\n${out}`)
  }
  const stopped = Date.now()
  app.kill('SIGINT')
  const run = await app.done
  t.ok(Date.now() - stopped < CLOSE_BOUND_MS, `stopped in ${Date.now() - stopped} ms`)
  t.notOk(existsSync(folder), 'the private redis-server is gone with its folder')
  t.equal(run.stdout.split('\n').filter((l) => /private redis-server/.test(l)).length, 1, 'one log line about it')
})

test('server.ts with no settings and a Redis on localhost:6379 (in its own network namespace) uses that Redis, and starts none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'example-6379-'))
  const pidfile = join(dir, 'redis.pid')
  t.teardown(() => {
    try { process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL') } catch {}
    rmSync(dir, { recursive: true, force: true })
  })
  // The namespace's own redis-server on 6379, in the background, then the app.
  const withRedis = (argv: string[]): string[] => inOwnNetwork(['/bin/sh', '-c',
    `redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --dir '${dir}' --pidfile '${pidfile}' --daemonize yes --logfile '' && exec "$@"`, 'sh', ...argv])
  const app = runNode(t, 'example-app/server.ts', { wrap: withRedis })
  await app.line(/Server listening at http:\/\/127\.0\.0\.1:3000/)
  const put = await inNetworkOf(app.pid, ['curl', '-s', '-X', 'PUT', 'localhost:3000/things/here', '-H', 'content-type: application/json', '-d', '{"a":1}'])
  t.equal(put, '{"a":1,"ttl":31104000}')
  t.equal(await inNetworkOf(app.pid, ['redis-cli', '-p', '6379', 'HGET', 'thing:here', 'a']), '1\n', 'stored in the Redis on 6379, db 0')
  app.kill('SIGTERM')
  const run = await app.done
  t.equal(run.code, 0)
  t.notMatch(run.stdout, /private redis-server/, 'no private redis-server')
})

test('server.ts on a fresh machine: without redis-server on PATH, one line saying how to install it; a failed start stops the private redis-server too', async (t) => {
  const noRedis = runNode(t, 'example-app/server.ts', { wrap: inOwnNetwork, env: { PATH: '/nonexistent' } })
  const badHost = runNode(t, 'example-app/server.ts', { wrap: inOwnNetwork, env: { HOST: '192.0.2.1' } })
  const [missing, failed] = await Promise.all([noRedis.done, badHost.done])
  t.equal(missing.code, 1)
  t.equal(missing.stderr.trim(), `example-app: cannot start: nothing answers on localhost:6379 and redis-server is not installed: ${INSTALL_REDIS}`)
  t.match(missing.stderr, /apt-get install redis-server/)
  t.match(missing.stderr, /brew install redis/)
  t.equal(failed.code, 1)
  t.match(failed.stderr.trim(), /^example-app: cannot start: .*EADDRNOTAVAIL[^\n]*$/)
  const folder = /data in (\S+),/.exec(failed.stdout)![1]
  t.notOk(existsSync(folder), 'the private redis-server stopped, its folder removed')
})

test('local-redis: what counts as configured, what answers, and a private redis-server', async (t) => {
  t.equal(redisConfigured({ PATH: '/bin', HOME: '/root' }), false)
  t.equal(redisConfigured({ REDIS_URL: 'redis://h' }), true)
  t.equal(redisConfigured({ SESSIONS_HOST: 'h' }), true)
  const redis = await startRedis(t)
  t.equal(await answers('127.0.0.1', redis.port), true)
  t.equal(await answers('127.0.0.1', await freePort()), false)

  const server = await startPrivateRedis()
  t.ok(server)
  t.match(server!.url, /^redis:\/\/127\.0\.0\.1:\d+$/)
  t.ok(existsSync(server!.dir))
  t.equal(await answers('127.0.0.1', Number(new URL(server!.url).port)), true)
  await server!.stop()
  await server!.stop()
  t.notOk(existsSync(server!.dir), 'stopped, folder removed; stop() twice is fine')
  t.equal(await answers('127.0.0.1', Number(new URL(server!.url).port)), false)

  t.equal(await startPrivateRedis('no-such-redis-server'), undefined, 'not installed')
  await t.rejects(startPrivateRedis('false'), /redis-server exited \(1\) before it was ready/)
  const notExecutable = join(mkdtempSync(join(tmpdir(), 'example-noexec-')), 'redis-server')
  writeFileSync(notExecutable, '', { mode: 0o644 })
  t.teardown(() => rmSync(dirname(notExecutable), { recursive: true, force: true }))
  await t.rejects(startPrivateRedis(notExecutable), { code: 'EACCES' }, 'a redis-server that cannot run: its error')
})
