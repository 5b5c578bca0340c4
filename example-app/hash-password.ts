// Makes a USERS entry: `name:scrypt$<salt>$<key>`.
//
//   node --import tsx example-app/hash-password.ts alice
//
// reads the password from standard input, so it stays out of the shell
// history: typed at a terminal, it shows as `*` characters; piped, the first
// line is the password (`printf '%s\n' 's3cret' | node --import tsx example-app/hash-password.ts alice`).
import { createInterface } from 'node:readline'
import { hashPassword, USER_NAME } from './passwords'

/** The first line of a pipe or a file. */
async function readLine (): Promise<string> {
  const lines = createInterface({ input: process.stdin, terminal: false })
  const line = await new Promise<string>((resolve) => {
    lines.once('line', resolve)
    lines.once('close', () => resolve(''))
  })
  lines.close()
  return line
}

/** A password typed at a terminal, echoed as `*`; undefined on Ctrl-C. */
async function readMasked (): Promise<string | undefined> {
  const stdin = process.stdin
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  let password = ''
  const result = await new Promise<string | undefined>((resolve) => {
    stdin.on('data', (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') return resolve(password)
        if (char === '\u0003') return resolve(undefined)
        if (char === '\u007f' || char === '\b') {
          if (password.length > 0) process.stderr.write('\b \b')
          password = password.slice(0, -1)
        } else if (char >= ' ') {
          password += char
          process.stderr.write('*')
        }
      }
    })
  })
  stdin.setRawMode(false)
  stdin.pause()
  process.stderr.write('\n')
  return result
}

async function main (): Promise<number> {
  const name = process.argv[2] ?? ''
  if (!USER_NAME.test(name)) {
    console.error(`usage: node --import tsx example-app/hash-password.ts <username>  (the name must match ${USER_NAME}; the password is read from stdin)`)
    return 2
  }
  process.stderr.write(`password for ${name}: `)
  const password = process.stdin.isTTY ? await readMasked() : await readLine()
  if (password === undefined) return 130
  if (password === '') {
    console.error(process.stdin.isTTY ? 'no password given' : '\nno password given on standard input')
    return 2
  }
  console.log(`${name}:${await hashPassword(password)}`)
  return 0
}

main().then((code) => { process.exitCode = code })
