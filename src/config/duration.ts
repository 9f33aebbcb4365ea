/**
 * Go's duration syntax ("30s", "1m30s", "500ms", "2h22m"), used by kube-proxy's flags and
 * KubeProxyConfiguration.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds of a Go duration string; undefined when it is not one. "0" is 0. */
export function parseDuration(s: string): number | undefined {
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * (UNITS[m[2] as string] ?? NaN);
    pos = re.lastIndex;
  }
  return s.length > 0 && Number.isFinite(total) ? total : undefined;
}
