/** The kipvs version, printed by `kipvs version` and exported as a metric label. */
export const VERSION = "0.1.0";
