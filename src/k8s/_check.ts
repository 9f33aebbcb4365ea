/**
 * Field readers for validation: each reads one field of a decoded object, returns the typed
 * value, and records an issue (field path, value, message) when the value is wrong. Absent and
 * `null` are the same, as they are to the API server.
 *
 * @module
 */

import { checkCIDR, checkIP, isCanonicalIPv4, type ParsedCIDR, type ParsedIP } from "../net/ip.ts";
import type { Family } from "../net/family.ts";
import type { NameFormat } from "./names.ts";

/** One problem with one field of an object. */
export interface ValidationIssue {
  /** Path of the field, as the API server names it: "spec.ports[0].port". */
  field: string;
  /** The offending value; undefined when the field is missing. */
  value?: unknown;
  /** What is wrong, worded to follow the value: "out of range 1-65535". */
  message: string;
}

/** A decoded JSON object. */
export type Raw = Record<string, unknown>;

/** Whether `v` is a plain object (not an array, not null). */
export function isRaw(v: unknown): v is Raw {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Collects issues (the object is refused) and warnings (it is kept) while reading fields. */
export class Checker {
  readonly issues: ValidationIssue[] = [];
  readonly warnings: ValidationIssue[] = [];

  fail(field: string, value: unknown, message: string): void {
    this.issues.push(value === undefined ? { field, message } : { field, value, message });
  }

  warn(field: string, value: unknown, message: string): void {
    this.warnings.push(value === undefined ? { field, message } : { field, value, message });
  }

  /** An object field; undefined when absent. */
  record(v: unknown, field: string): Raw | undefined {
    if (v === undefined || v === null) return undefined;
    if (isRaw(v)) return v;
    this.fail(field, v, "must be an object");
    return undefined;
  }

  /** An element of a list that must be an object (null is an issue there too). */
  element(v: unknown, field: string): Raw | undefined {
    if (v === undefined || v === null) {
      this.fail(field, v, "must be an object");
      return undefined;
    }
    return this.record(v, field);
  }

  /** A list field; [] when absent. */
  list(v: unknown, field: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (Array.isArray(v)) return v;
    this.fail(field, v, "must be a list");
    return [];
  }

  /** A string field; undefined when absent (an issue too when `required`). */
  string(v: unknown, field: string, required = false): string | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(field, undefined, "required");
      return undefined;
    }
    if (typeof v === "string") return v;
    this.fail(field, v, "must be a string");
    return undefined;
  }

  /** A boolean field; undefined when absent. */
  bool(v: unknown, field: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "boolean") return v;
    this.fail(field, v, "must be true or false");
    return undefined;
  }

  /** An integer field within [min, max]; undefined when absent or wrong. */
  integer(v: unknown, field: string, min: number, max: number): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v)) {
      this.fail(field, v, "must be an integer");
      return undefined;
    }
    if (v < min || v > max) {
      this.fail(field, v, `out of range ${min}-${max}`);
      return undefined;
    }
    return v;
  }

  /** An enum field; undefined when absent or not one of `values`. */
  oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T | undefined {
    const s = this.string(v, field);
    if (s === undefined) return undefined;
    if ((values as readonly string[]).includes(s)) return s as T;
    this.fail(field, s, `not one of ${values.join(", ")}`);
    return undefined;
  }

  /** A name in `format`; "" when absent (an issue too when `required`). */
  name(v: unknown, field: string, format: NameFormat, required: boolean): string {
    const s = this.string(v, field, required);
    if (s === undefined || (s === "" && !required)) return "";
    if (s === "") {
      this.fail(field, s, "required");
    } else if (!format.test(s)) {
      this.fail(field, s, `not a valid name: ${format.describe}`);
    }
    return s;
  }

  /** An IP address; undefined when absent or wrong. Warns when the text was sloppy IPv4. */
  ip(v: unknown, field: string, required = false): ParsedIP | undefined {
    const s = this.string(v, field, required);
    if (s === undefined) return undefined;
    const ip = checkIP(s);
    if (typeof ip === "string") {
      this.fail(field, s, ip);
      return undefined;
    }
    if (ip.family === 4 && ip.text !== s) {
      this.warn(field, s, `has leading zeros, read as ${ip.text} (as kube-proxy does)`);
    }
    return ip;
  }

  /**
   * An IP address's family and canonical text, as {@link ip} reads it but without its bytes: an
   * address already canonical IPv4 (nearly every endpoint's) is taken as it is, with no parse
   * and no byte array (one each for 500,000 endpoints was a good part of a list's garbage).
   */
  ipText(
    v: unknown,
    field: string,
    required = false,
  ): { family: Family; text: string } | undefined {
    if (typeof v === "string" && isCanonicalIPv4(v)) return { family: 4, text: v };
    const ip = this.ip(v, field, required);
    return ip && { family: ip.family, text: ip.text };
  }

  /** A CIDR (surrounding blanks trimmed, as kube-proxy does); undefined when absent or wrong. */
  cidr(v: unknown, field: string): ParsedCIDR | undefined {
    const s = this.string(v, field);
    if (s === undefined) return undefined;
    const cidr = checkCIDR(s.trim());
    if (typeof cidr === "string") {
      this.fail(field, s, cidr);
      return undefined;
    }
    if (cidr.hostBitsSet) this.warn(field, s, `has host bits set, read as ${cidr.text}`);
    return cidr;
  }

  /** A map of strings to strings (labels, annotations); {} when absent. */
  stringMap(v: unknown, field: string): Record<string, string> {
    const r = this.record(v, field);
    if (r === undefined) return {};
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(r)) {
      if (typeof val === "string") out[k] = val;
      else this.fail(`${field}[${k}]`, val, "must be a string");
    }
    return out;
  }
}
