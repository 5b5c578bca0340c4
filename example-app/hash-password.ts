// Makes a USERS entry: `name:scrypt$<salt>$<key>`.
//
//   node --import tsx example-app/hash-password.ts alice
//
// reads the password from the first line of standard input (type it, or pipe
// it: `printf '%s\n' 's3cret' | node --import tsx example-app/hash-password.ts alice`),
// so it stays out of the shell history.
import { createInterface } from 'node:readline'
import { hashPassword, USER_NAME } from './passwords'

async function main (): Promise<number> {
  const name = process.argv[2] ?? ''
  if (!USER_NAME.test(name)) {
    console.error(`usage: node --import tsx example-app/hash-password.ts <username>  (the name must match ${USER_NAME}; the password is read from stdin)`)
    return 2
  }
  process.stderr.write(`password for ${name}: `)
  const lines = createInterface({ input: process.stdin, terminal: false })
  const password = await new Promise<string>((resolve) => {
    lines.once('line', resolve)
    lines.once('close', () => resolve(''))
  })
  lines.close()
  if (password === '') {
    console.error('\nno password given on standard input')
    return 2
  }
  console.log(`${name}:${await hashPassword(password)}`)
  return 0
}

main().then((code) => { process.exitCode = code })
