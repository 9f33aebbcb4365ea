/**
 * IP families, as numbers (4 and 6) the way the kernel's tools and kube-proxy's set names use
 * them.
 *
 * @module
 */

/** IP family. */
export type Family = 4 | 6;
