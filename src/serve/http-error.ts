/** An error answered to the client with its own status (4xx for bad requests, 503 when busy). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: {
      /** OpenAI-style error type; derived from the status when left out. */
      type?: string;
      /** The request field at fault, if any. */
      param?: string;
      code?: string;
      headers?: Record<string, string>;
      /** Close the connection after answering (the request body was not read to its end). */
      closeConnection?: boolean;
    } = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  get type(): string {
    if (this.extra.type) return this.extra.type;
    if (this.status === 404) return 'not_found_error';
    if (this.status === 503) return 'overloaded_error';
    return this.status >= 500 ? 'server_error' : 'invalid_request_error';
  }

  /** The body every endpoint answers errors with (OpenAI's shape, so its clients show the message). */
  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return {
      error: {
        message: this.message,
        type: this.type,
        param: this.extra.param ?? null,
        code: this.extra.code ?? null,
      },
    };
  }
}

export const badRequest = (message: string, param?: string) => new HttpError(400, message, { param });

/** Thrown (as an abort reason) when the client went away: nobody is left to answer. */
export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGone';
  }
}

/** Abort reason of a request that ran out of time. */
export class RequestTimeout extends Error {
  constructor(readonly ms: number) {
    super(`the request took longer than the server's limit of ${ms} ms`);
    this.name = 'RequestTimeout';
  }
}
