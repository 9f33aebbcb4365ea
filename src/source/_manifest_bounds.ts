/**
 * Bounds on what one manifest file may make kipvs hold, checked on the decoded documents before
 * anything reads them. YAML aliases share one value among many places: js-yaml keeps the
 * sharing (an alias is the same JavaScript object), so a "billion laughs" file of a few hundred
 * bytes decodes to a few hundred objects, but anything that walks it whole (rendering, copying,
 * comparing) would walk billions. An alias may also point into its own value, making it
 * circular. This walk visits each distinct value once and computes, per document, how deep and
 * how large it is once every alias is expanded, and refuses circular documents.
 *
 * @module
 */

/** Limits of {@link checkBounds}. */
export interface ShapeLimits {
  /** Deepest nesting of lists and maps, aliases expanded (default 100, as js-yaml's parser). */
  maxDepth: number;
  /** Values that aliases may add to a document once expanded (default 100,000). */
  maxAliasExpansion: number;
}

/** Default {@link ShapeLimits}. */
export const SHAPE_LIMITS: Readonly<ShapeLimits> = { maxDepth: 100, maxAliasExpansion: 100_000 };

/**
 * Whether YAML text may hold an anchor (`&name` where a node may start): without one there are
 * no aliases, and {@link checkBounds} needs no memory of what it saw.
 */
export function mayHaveAnchors(text: string): boolean {
  return /(?:^|[\s[{,:?-])&[^\s[\]{},]/.test(text);
}

/**
 * What is wrong with a document: a message to follow "document N:", or undefined. `aliases`:
 * the document may share values (YAML with anchors); without, only its depth is checked.
 */
export function checkBounds(
  doc: unknown,
  o: { aliases: boolean; limits?: ShapeLimits },
): string | undefined {
  const limits = o.limits ?? SHAPE_LIMITS;
  if (typeof doc !== "object" || doc === null) return undefined;
  if (!o.aliases) {
    return depthOver(doc, limits.maxDepth)
      ? `nested deeper than ${limits.maxDepth} levels`
      : undefined;
  }
  return checkShared(doc, limits);
}

/** Whether a tree (no shared values) nests deeper than `max`; recursion at most `max` deep. */
function depthOver(node: object, max: number): boolean {
  if (max <= 0) return true;
  if (Array.isArray(node)) {
    for (const kid of node) {
      if (typeof kid === "object" && kid !== null && depthOver(kid, max - 1)) return true;
    }
    return false;
  }
  for (const key in node) {
    const kid = (node as Record<string, unknown>)[key];
    if (typeof kid === "object" && kid !== null && depthOver(kid, max - 1)) return true;
  }
  return false;
}

function checkShared(doc: object, limits: ShapeLimits): string | undefined {
  const memo = new Map<object, { size: number; depth: number }>();
  let distinct = 0; // values written once in the file: each object once, every scalar slot
  const stack: { node: object; kids: unknown[]; next: number; size: number; depth: number }[] = [];
  const open = (node: object) => {
    const kids = Array.isArray(node) ? node : Object.values(node);
    distinct += 1;
    memo.set(node, { size: -1, depth: -1 }); // -1: on the stack (a circle if met again)
    stack.push({ node, kids, next: 0, size: 1, depth: 1 });
  };
  open(doc);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.kids.length) {
      stack.pop();
      memo.set(top.node, { size: top.size, depth: top.depth });
      const parent = stack[stack.length - 1];
      if (parent) {
        parent.size += top.size;
        parent.depth = Math.max(parent.depth, top.depth + 1);
      }
      continue;
    }
    const kid = top.kids[top.next++];
    if (typeof kid !== "object" || kid === null) {
      top.size += 1;
      distinct += 1;
      continue;
    }
    const known = memo.get(kid);
    if (known === undefined) {
      open(kid);
      if (stack.length > limits.maxDepth) return `nested deeper than ${limits.maxDepth} levels`;
      continue;
    }
    if (known.size < 0) return "an alias refers to a value that contains it (a circular document)";
    top.size += known.size;
    top.depth = Math.max(top.depth, known.depth + 1);
    if (top.depth > limits.maxDepth) {
      return `nested deeper than ${limits.maxDepth} levels once aliases are expanded`;
    }
    if (top.size - distinct > limits.maxAliasExpansion) {
      return `aliases expand to more than ${limits.maxAliasExpansion} values (an alias bomb?)`;
    }
  }
  const total = memo.get(doc)!.size;
  if (total - distinct > limits.maxAliasExpansion) {
    return `aliases expand to more than ${limits.maxAliasExpansion} values (an alias bomb?)`;
  }
  return undefined;
}
