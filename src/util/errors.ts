/** An error caused by the user's input (a file, a flag, a request): printed without a stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    /** Process exit code when this ends a CLI command: 2 for usage errors, 1 otherwise. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Prefixes an error with where it happened (`manifest.jsonl line 12: ...`), keeping it a UserError. */
export function withContext(where: string, err: unknown): UserError {
  const msg = err instanceof Error ? err.message : String(err);
  return new UserError(`${where}: ${msg}`);
}
