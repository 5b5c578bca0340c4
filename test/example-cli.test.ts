// example-app/hash-password.ts, as a user runs it: input piped, or typed on
// a terminal (a pseudo-terminal made by `script`).
import { test } from 'tap'
import { parseUsers, verifyPassword } from '../example-app/passwords'
import { PASSWORDS, type Run, runNode, sleep } from './helpers/example'

test('hash-password.ts makes a USERS entry from piped stdin', async (t) => {
  const script = 'example-app/hash-password.ts'
  const [exact, covered, noName, noPassword] = await Promise.all([
    runNode(t, script, { args: ['alice'], input: `${PASSWORDS.alice}\n`, exact: true }).done,
    runNode(t, script, { args: ['alice'], input: `${PASSWORDS.alice}\n` }).done,
    runNode(t, script).done,
    runNode(t, script, { args: ['bob'] }).done
  ])
  for (const made of [exact, covered]) {
    t.equal(made.code, 0)
    const entry = made.stdout.trim()
    t.match(entry, /^alice:scrypt\$[0-9a-f]{32}\$[0-9a-f]{128}$/)
    t.ok(await verifyPassword(PASSWORDS.alice, parseUsers(entry).get('alice')!), 'the hash matches the password')
    t.match(made.stderr, 'password for alice: ')
  }
  t.equal(noName.code, 2, 'no user name: exit 2')
  t.match(noName.stderr, /^usage: /)
  t.equal(noPassword.code, 2, 'no password: exit 2')
  t.match(noPassword.stderr, /no password given/)
})

/** Runs hash-password.ts on a terminal (`script` gives it a pty), typing `keys` once it prompts, in as many bursts. */
async function onTerminal (t: { teardown (fn: () => unknown): void }, ...keys: string[]): Promise<Run> {
  // `script -qec <command> /dev/null`: the command runs on a new pseudo-terminal, whose output is ours.
  const run = runNode(t, 'example-app/hash-password.ts', {
    args: ['alice'],
    keepStdin: true,
    wrap: (argv) => ['script', '-qec', argv.map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' '), '/dev/null']
  })
  await run.line(/password for alice: /)
  for (const burst of keys) {
    await sleep(200) // the prompt is out; raw mode is on right after it
    run.write(burst)
  }
  return await run.done
}

test('hash-password.ts on a terminal: the password shows as stars, backspace works (also on nothing), Ctrl-C aborts', async (t) => {
  const [typed, empty, aborted] = await Promise.all([onTerminal(t, `\u007f${PASSWORDS.alice}`, 'x\u007f', '\r'), onTerminal(t, '\r'), onTerminal(t, 'abc\u0003')])
  t.equal(typed.code, 0, typed.stdout)
  // The secret guard also searches this output for the password: it is not echoed.
  t.match(typed.stdout, `password for alice: ${'*'.repeat(PASSWORDS.alice.length + 1)}\b \b`)
  const entry = /alice:\S+/.exec(typed.stdout)![0]
  t.ok(await verifyPassword(PASSWORDS.alice, parseUsers(entry).get('alice')!), 'the backspace took the x off')
  t.equal(empty.code, 2)
  t.match(empty.stdout, /no password given/)
  t.equal(aborted.code, 130, 'Ctrl-C: exit 130')
  t.notMatch(aborted.stdout, /alice:scrypt/)
})
