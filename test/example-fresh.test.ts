// `npm run example` and example-app/server.ts as a fresh machine sees them:
// each in a network namespace of the test's own (`unshare -n`), where only
// the loopback interface is up and nothing listens on 6379.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'tap'
import { CLOSE_BOUND_MS } from '../example-app/app'
import { answers, INSTALL_REDIS, redisConfigured, startPrivateRedis } from '../example-app/local-redis'
import { inNetworkOf, inOwnNetwork, runNode, runNpmExample } from './helpers/example'
import { freePort, startRedis } from './helpers/redis'
import { matchesTranscript, transcript } from './helpers/transcript'

// A network namespace needs root (or user namespaces): say so once, clearly.
const probe = spawnSync(inOwnNetwork(['/bin/true'])[0], inOwnNetwork(['/bin/true']).slice(1), { encoding: 'utf8' })
if (probe.status !== 0) {
  throw new Error(`these tests run the example app in a network namespace of their own, and \`unshare -n\` failed here (run them as root): ${probe.error?.message ?? probe.stderr}`)
}

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
