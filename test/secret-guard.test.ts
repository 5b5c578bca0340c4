import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'tap'
import { FST_REDIS_CONFIG } from '../lib/errors'
import { testApp } from './helpers/app'
import { runNode } from './helpers/example'
import { checkError, checkText, collect, guardedLogger, secret } from './helpers/secret-guard'

// The suite-wide secret guard (test/helpers/secret-guard.ts) checked on
// itself: what it finds, where, and that it fails the process that leaked.

const PASSWORD = secret('guard-Pa:55/word')

test('secret() registers distinctive passwords only, and hands them to child processes', async (t) => {
  t.equal(secret('guard-Pa:55/word'), PASSWORD, 'returns the value; registering twice is harmless')
  t.throws(() => secret('pw'), /a test password must have 6 characters or more to be searched for, got one of 2/)
  t.ok(JSON.parse(process.env.FASTIFY_NODE_REDIS_TEST_SECRETS!).includes(PASSWORD))
})

test('finds a password in errors when they are made, cause chain included', async (t) => {
  const leaks = await collect(() => {
    t.ok(new FST_REDIS_CONFIG(`raw ${PASSWORD}`), 'never thrown')
    t.ok(new FST_REDIS_CONFIG('wrapped', { cause: new FST_REDIS_CONFIG(`encoded ${encodeURIComponent(PASSWORD)}`) }))
  })
  t.match(leaks, [
    { where: 'error FST_REDIS_CONFIG', text: /^fastify-node-redis: raw <secret \d+> \| FST_REDIS_CONFIG \| FastifyError$/ },
    { where: 'error FST_REDIS_CONFIG', text: /encoded <secret \d+>/ }
  ], 'the inner error when made; seen again as the cause of the outer one, it is the same leak')
  t.match(await collect(() => checkError(new FST_REDIS_CONFIG('outer', { cause: new Error(PASSWORD) }))), [{ where: 'error Error', text: /^<secret \d+>$/ }],
    'a plain Error as the cause')
  t.notMatch(JSON.stringify(leaks), PASSWORD, 'the report never shows the password')

  const looped: Record<string, unknown> = { message: 'a plain object', cause: undefined }
  looped.cause = looped
  const more = await collect(() => {
    checkError(Object.assign(new Error('a plain Error'), { detail: `json ${JSON.stringify(PASSWORD).slice(1, -1)}`, size: 3 }))
    checkError({ message: PASSWORD })
    checkError(looped)
    checkError(new Error('fine', { cause: 'a string cause' }))
    checkError(undefined)
  })
  t.match(more, [{ where: 'error Error', text: /json <secret \d+>/ }, { where: 'error object' }])
  t.equal(more.length, 2, 'clean errors, cycles and non-objects pass')
})

test('finds a password in any log line of a test app, at every level', async (t) => {
  const app = testApp()
  t.teardown(() => app.close())
  const leaks = await collect(() => {
    app.log.trace({ password: PASSWORD }, 'at trace')
    app.log.info('nothing to see')
  })
  t.match(leaks, [{ where: 'log line', text: /"password":"<secret \d+>","msg":"at trace"/ }])
  t.equal(leaks.length, 1)

  const kept: string[] = []
  const logger = guardedLogger('warn', (line) => kept.push(line))
  t.equal(logger.level, 'trace', 'the guard sees every level')
  logger.stream.write('{"level":30,"msg":"info"}\n')
  logger.stream.write('{"level":40,"msg":"warn"}\n')
  logger.stream.write('not a log line\n')
  t.same(kept, ['{"level":40,"msg":"warn"}\n'], 'the test keeps its own level and above')
  guardedLogger().stream.write('{"level":60,"msg":"silent by default"}\n')
  t.same(await collect(() => checkText('', 'empty')), [])
})

test('a process that leaked fails, and says where without the password', async (t) => {
  const leaky = 'leaky-Pa55word-from-argv'
  const clean = await runNode(t, 'test/fixtures/leaky.ts', { args: [leaky, '0'], env: { FASTIFY_NODE_REDIS_TEST_SECRETS: '[]' } }).done
  t.match(clean, { code: 0, stdout: 'done\n', stderr: '' })

  const one = await runNode(t, 'test/fixtures/leaky.ts', { args: [leaky, '1'], env: { FASTIFY_NODE_REDIS_TEST_SECRETS: '[]' } }).done
  t.equal(one.code, 1, 'exit code 1')
  t.match(one.stderr, /secret-guard: a registered password was seen 1 time\(s\) in process \d+:\n {2}- in error FST_REDIS_CONFIG: .*the password is <secret 1>/)
  t.notMatch(one.stderr + one.stdout, leaky)

  const many = await runNode(t, 'test/fixtures/leaky.ts', { args: [leaky, '25'], env: { FASTIFY_NODE_REDIS_TEST_SECRETS: '[]' } }).done
  t.equal(many.code, 1)
  t.match(many.stderr, /seen 25 time\(s\)[^]*… and 5 more/, 'a long report is cut')
})

test('every Fastify instance of the suite logs through the guard', async (t) => {
  // Building one with Fastify() or the example's build() directly would hide
  // its log lines from the guard: each such call must pass guardedLogger(),
  // or be a bare build() of the example app, which then logs nothing.
  const root = join(__dirname)
  const files: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (/\.[cm]?[jt]s$/.test(name)) files.push(path)
    }
  }
  walk(root)
  let calls = 0
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(/\b(?:Fastify|build)\(/g)) {
      const lineStart = text.lastIndexOf('\n', match.index) + 1
      const where = `${relative(root, file)}:${text.slice(0, match.index).split('\n').length}`
      const before = text.slice(lineStart, match.index)
      if (/^\s*(\/\/|\*)/.test(before) || /['`]$/.test(before)) continue // in a comment or a test's name
      let depth = 0
      let end = match.index + match[0].length - 1
      do {
        if (text[end] === '(') depth++
        else if (text[end] === ')') depth--
        end++
      } while (depth > 0 && end < text.length)
      calls++
      const call = text.slice(match.index, end)
      const lineEnd = text.indexOf('\n', end)
      if (call === 'build()' && /\/\/ logs nothing: the logger defaults to false$/.test(text.slice(end, lineEnd))) continue
      t.match(call, /^(Fastify|build)\(\{[^]*\blogger: guardedLogger\(/, where)
    }
  }
  t.ok(calls >= 5, `${calls} calls checked`)
})
