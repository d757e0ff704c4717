/** The echo handler the benchmark serves directly and through the relay. */
export function echoResult (task: { payload?: unknown }): { result: { echo: unknown } } {
  return { result: { echo: task.payload ?? null } }
}
