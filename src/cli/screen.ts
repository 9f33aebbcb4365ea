/**
 * The terminal of a live view (`kipvs top`): the alternate screen, a hidden cursor, single
 * keys without Enter, and the window's height. Plain ANSI sequences that every terminal since
 * the VT100 understands (xterm's alternate screen aside, which terminals without it ignore):
 * a full-screen library (blessed, ink) would bring hundreds of kilobytes and Node's tty layer
 * for one redraw every 2 seconds.
 *
 * @module
 */

/** What a live view needs of its terminal. */
export interface Screen {
  /** Rows of the window (24 when unknown). */
  rows(): number;
  /** Replaces what the window shows. */
  draw(text: string): void;
  /** The next key pressed ("q", "e", "\x03" for Ctrl-C, ...); never resolves without input. */
  key(): Promise<string>;
  /** Gives the terminal back as it was. */
  close(): void;
}

const ENTER = "\x1b[?1049h\x1b[?25l";
const LEAVE = "\x1b[?25h\x1b[?1049l";
const HOME_CLEAR = "\x1b[H\x1b[2J";

/**
 * The process's terminal as a {@link Screen}, or undefined when stdout is not one (a pipe, a
 * file): the view then prints one snapshot after another.
 */
export function processScreen(write: (s: string) => void): Screen | undefined {
  if (!Deno.stdout.isTerminal()) return undefined;
  const raw = Deno.stdin.isTerminal();
  if (raw) Deno.stdin.setRaw(true);
  write(ENTER);
  let pending: Promise<string> | undefined;
  const buf = new Uint8Array(16);
  const readKey = async (): Promise<string> => {
    const n = raw ? await Deno.stdin.read(buf) : null;
    // End of input: no more keys (a promise that never resolves keeps the view running).
    if (n === null) return await new Promise<string>(() => {});
    return new TextDecoder().decode(buf.subarray(0, n));
  };
  return {
    rows: () => {
      try {
        return Deno.consoleSize().rows;
      } catch {
        return 24;
      }
    },
    draw: (text) => write(HOME_CLEAR + text.replaceAll("\n", "\r\n")),
    key: () => {
      pending ??= readKey().finally(() => pending = undefined);
      return pending;
    },
    close: () => {
      write(LEAVE);
      if (raw) Deno.stdin.setRaw(false);
    },
  };
}
