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

  /** The command it ends (`nanovlm data scenes`), set by the CLI; its messages start with it. */
  command?: string;
}
