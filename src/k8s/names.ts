/**
 * Name formats of the Kubernetes API (apimachinery's `IsDNS1123Label` and friends). kipvs puts
 * names into ipset comments, iptables comments and logs, so it accepts only what the API server
 * accepts.
 *
 * @module
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** A name format and the sentence that describes it in error messages. */
export interface NameFormat {
  test(name: string): boolean;
  /** "lowercase letters, digits and '-' ..." */
  describe: string;
}

/** RFC 1123 label: namespaces, port names. */
export const DNS_LABEL: NameFormat = {
  test: (s) => s.length <= 63 && DNS1123_LABEL.test(s),
  describe:
    "must be at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit",
};

/** RFC 1035 label: Service names. */
export const SERVICE_NAME: NameFormat = {
  test: (s) => s.length <= 63 && DNS1035_LABEL.test(s),
  describe:
    "must be at most 63 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit",
};

/** RFC 1123 subdomain: EndpointSlice and Node names. */
export const DNS_SUBDOMAIN: NameFormat = {
  test: (s) => s.length <= 253 && DNS1123_SUBDOMAIN.test(s),
  describe:
    "must be at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit",
};

/** IANA service name: a named target port ("http", "dns-tcp"). */
export const PORT_NAME: NameFormat = {
  test: (s) => s.length <= 15 && IANA_SVC_NAME.test(s) && /[a-z]/.test(s) && !s.includes("--"),
  describe:
    "must be at most 15 lowercase letters, digits or '-' with at least one letter, no '--', not starting or ending with '-'",
};
