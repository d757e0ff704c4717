/** The echo handler the benchmark serves directly and through the relay, and the task it is sent. */
export function echoResult (task: { payload?: unknown }): { result: { echo: unknown } } {
  return { result: { echo: task.payload ?? null } }
}

/** The benchmark's task: an echo task whose payload carries `bytes` bytes of text. */
export function taskBody (bytes: number): Buffer {
  return Buffer.from(JSON.stringify({ task_id: 'bench-1', intent: 'urn:iicp:intent:bench:echo:v1', payload: { data: 'x'.repeat(bytes) } }))
}
