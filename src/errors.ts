// The typed errors of langquant. A UserError is the user's to fix: the CLI prints its message
// (what happened, then what to do) on one line and exits non-zero, without a stack trace.
// Anything else reaching the CLI's handler is a bug in langquant and is shown with its stack.

export class UserError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** A checkpoint or model directory that cannot be used as it is. */
export class CheckpointError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** A configuration, pipeline file or command-line value that does not validate. */
export class ConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Input data (corpus, ids file, text) that cannot be used. */
export class DataError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

/**
 * A NaN or ±Inf that appeared while scoring (an overflow in a model with huge weights, an engine
 * fault): named by the sequence and the token position, never passed on as a number.
 */
export class NonFiniteError extends UserError {
  /** The scored sequence, in words ("text file a.txt", "unit art_1 of swh"). */
  readonly sequence: string;
  /** Index of the scored token in the sequence (≥ 1: the first token is never scored). */
  readonly position: number;
  constructor(message: string, sequence: string, position: number) {
    super(message);
    this.name = 'NonFiniteError';
    this.sequence = sequence;
    this.position = position;
  }
}
