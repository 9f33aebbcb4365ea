/**
 * Synchronous FFI work behind a promise-returning interface.
 *
 * @module
 */

/** Runs `work` now and settles a promise with its value or its exception. */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err);
  }
}
