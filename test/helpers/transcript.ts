// Shell transcripts in the docs (```sh blocks after a `<!-- transcript -->`
// line): `$ command` lines, continued by a trailing backslash, each followed
// by the output it prints. In an output line `…` stands for any text.

export interface Step {
  command: string
  expected: string[]
}

/** The steps of every transcript block of a Markdown file. */
export function transcript (markdown: string): Step[] {
  const steps: Step[] = []
  const blocks = markdown.matchAll(/<!-- transcript -->\s*\n```sh\n([\s\S]*?)\n```/g)
  for (const [, body] of blocks) {
    let step: Step | undefined
    let continued = false
    for (const line of body.split('\n')) {
      if (continued) {
        step!.command += ' ' + line.trim().replace(/\\$/, '').trim()
        continued = line.endsWith('\\')
      } else if (line.startsWith('$ ')) {
        step = { command: line.slice(2).replace(/\\$/, '').trim(), expected: [] }
        steps.push(step)
        continued = line.endsWith('\\')
      } else if (line.trim() !== '' && step !== undefined) {
        step.expected.push(line)
      }
    }
  }
  return steps
}

function pattern (expected: string): RegExp {
  const parts = expected.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  return new RegExp(`^${parts.join('.*')}$`)
}

/** Whether every expected line shows up in `actual`, in order (other lines, headers say, may come between). */
export function matchesTranscript (actual: string, expected: string[]): boolean {
  const lines = actual.split(/\r?\n/)
  let at = 0
  for (const line of expected) {
    const want = pattern(line)
    while (at < lines.length && !want.test(lines[at])) at++
    if (at === lines.length) return false
    at++
  }
  return true
}
