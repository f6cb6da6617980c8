// A promise settled from outside: for a step that waits on an event another
// part of the run reports (the SSH login, the verdict that a run is a no-op).

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

export function deferred<T = void>(): Deferred<T> {
  const d = {} as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => Object.assign(d, { resolve, reject }));
  // Whoever awaits it handles a rejection; one nobody awaited must not crash the process.
  d.promise.catch(() => undefined);
  return d;
}
