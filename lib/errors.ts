// One shallow hierarchy: every error says where, what happened (with the
// underlying tool's own words) and what to do next. Messages are redacted by
// the reporter, so they may quote remote output freely.

export interface ErrorContext {
  host?: string;
  /** A file or command on the host, or a local file. */
  where?: string;
  /** The next step for the operator. */
  hint?: string;
  /** The underlying tool's own message (stderr, nginx's error line...). */
  detail?: string;
}

export class ConvergeError extends Error {
  readonly host?: string;
  readonly where?: string;
  readonly hint?: string;
  readonly detail?: string;

  constructor(message: string, ctx: ErrorContext = {}) {
    super(message);
    this.name = new.target.name;
    this.host = ctx.host;
    this.where = ctx.where;
    this.hint = ctx.hint;
    this.detail = ctx.detail;
  }

  /** The full, multi-line text shown to an operator. */
  describe(): string {
    const head = [this.host && `[${this.host}]`, this.where && `${this.where}:`, this.message]
      .filter(Boolean)
      .join(' ');
    const lines = [head];
    if (this.detail) lines.push(...this.detail.trim().split('\n').map((l) => `  | ${l}`));
    if (this.hint) lines.push(`  -> ${this.hint}`);
    return lines.join('\n');
  }
}

/** Bad inventory, variables or command-line input: nothing was contacted. */
export class InputError extends ConvergeError {}

/** The host could not be reached or authenticated. */
export class ConnectionError extends ConvergeError {}

/** The host is not ready for converge (no sudo, no nginx, missing include). */
export class PreflightError extends ConvergeError {}

/** A command on the host failed. */
export class RemoteCommandError extends ConvergeError {}

/** A command stopped on its host before it ended: it may have done part of its work (a reload may have reached nginx). */
export class CommandStoppedError extends RemoteCommandError {}

/** A command on the host ran past command_timeout and was stopped (or given up on). */
export class CommandTimeoutError extends CommandStoppedError {}

/** A command still running a while after the operator interrupted the run, stopped on its host. */
export class CommandInterruptedError extends CommandStoppedError {}

/** `nginx -t` rejected the candidate configuration. */
export class ValidationError extends ConvergeError {}

/** The gateway does not answer as its clients need. */
export class VerifyError extends ConvergeError {}

/** The operator interrupted the run. */
export class InterruptedError extends ConvergeError {}

/** Undoing a failed run failed too: the host needs a human. Reported apart. */
export class RollbackError extends ConvergeError {
  readonly cause: unknown;
  constructor(message: string, ctx: ErrorContext & { cause?: unknown } = {}) {
    super(message, ctx);
    this.cause = ctx.cause;
  }
}

/**
 * The same error about another host (a cause shared by several, e.g. one
 * bastion behind them): same class and words, so each report names its own
 * host. Anything else is returned as it is.
 */
export function forHost(err: unknown, host: string): unknown {
  if (!(err instanceof ConvergeError) || err instanceof RollbackError || err.host === host) return err;
  const Same = err.constructor as new (message: string, ctx: ErrorContext) => ConvergeError;
  return new Same(err.message, { host, where: err.where, detail: err.detail, hint: err.hint });
}

export function describeError(err: unknown): string {
  if (err instanceof ConvergeError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
