/**
 * What a command handler returns: the CLI layer writes it out and exits with `code`.
 *
 * @module
 */

/** A finished command: exit status and what to print. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr?: string;
}
