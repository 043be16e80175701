// A LIST response read item by item as its bytes arrive: each element of the top-level `items`
// array is cut out and parsed on its own, so an informer compacts one object at a time instead of
// holding a whole page's text and its parsed copy at once (a page of 500 RBAC objects with their
// managedFields is several MB of transient garbage). Everything else (kind, apiVersion, metadata
// with the continue token and resourceVersion) is parsed at the end with `items` left empty.
//
// The splitter tracks only what JSON needs to find structure: string state (with escapes) and
// nesting depth. Bytes of multi-byte UTF-8 characters are all >= 0x80, so they never look like
// structure. Malformed input makes `end()` (or the item's JSON.parse) throw.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const ITEMS = Buffer.from('"items"');

export class ListItemSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Inside the top-level `items` array (depth 2 is its level). */
  private inItems = false;
  /** The last string seen at depth 1 (a key, or a value), to recognise `"items"`. */
  private key: number[] = [];
  private capturingKey = false;
  private lastKeyIsItems = false;
  private readonly rest: Buffer[] = [];
  private item: Buffer[] = [];

  constructor(private readonly onItem: (text: string) => void) {}

  write(chunk: Buffer): void {
    let restFrom = this.inItems && this.depth >= 2 ? -1 : 0;
    let itemFrom = this.inItems && this.depth >= 3 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          continue;
        }
        if (!this.capturingKey) {
          // Skip to the next quote or backslash: most of a body is string contents.
          const q = chunk.indexOf(QUOTE, i);
          const b = chunk.indexOf(BACKSLASH, i);
          const next = q < 0 ? b : b < 0 ? q : Math.min(q, b);
          if (next < 0) {
            i = chunk.length - 1;
            continue;
          }
          i = next;
        }
        const d = chunk[i]!;
        if (d === BACKSLASH) this.escaped = true;
        else if (d === QUOTE) {
          this.inString = false;
          if (this.capturingKey) {
            this.key.push(d);
            this.capturingKey = false;
            this.lastKeyIsItems = this.key.length === ITEMS.length && ITEMS.equals(Buffer.from(this.key));
          }
        } else if (this.capturingKey && this.key.length <= ITEMS.length) this.key.push(d);
        if (this.capturingKey && d === BACKSLASH) this.key.push(d);
        continue;
      }
      if (c === QUOTE) {
        this.inString = true;
        if (this.depth === 1) {
          this.capturingKey = true;
          this.key = [c];
        }
      } else if (c === OPEN_OBJ || c === OPEN_ARR) {
        if (this.depth === 1 && c === OPEN_ARR && this.lastKeyIsItems) {
          this.inItems = true;
          this.depth = 2;
          // Keep the `[` in the rest; leave out everything until the matching `]`.
          this.rest.push(chunk.subarray(restFrom, i + 1));
          restFrom = -1;
          continue;
        }
        this.depth++;
        if (this.inItems && this.depth === 3) itemFrom = i;
      } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
        if (this.inItems && this.depth === 2) {
          if (c !== CLOSE_ARR) throw new SyntaxError('list body: unbalanced items array');
          this.inItems = false;
          this.depth = 1;
          this.lastKeyIsItems = false;
          restFrom = i;
          continue;
        }
        this.depth--;
        if (this.depth < 0) throw new SyntaxError('list body: unbalanced brackets');
        if (this.inItems && this.depth === 2 && itemFrom >= 0) {
          this.item.push(chunk.subarray(itemFrom, i + 1));
          const text = Buffer.concat(this.item).toString('utf8');
          this.item = [];
          itemFrom = -1;
          this.onItem(text);
        }
      } else if (this.depth === 1 && c !== 0x3a && c > 0x20 && c !== 0x2c) {
        // A bare value at depth 1 (number, true, null): the next `[` does not follow "items".
        this.lastKeyIsItems = false;
      }
    }
    if (itemFrom >= 0) this.item.push(chunk.subarray(itemFrom));
    if (restFrom >= 0) this.rest.push(chunk.subarray(restFrom));
  }

  /** The list without its items, once the whole body was written. */
  end<T>(): T {
    if (this.depth !== 0 || this.inString || this.inItems)
      throw new SyntaxError('list body: unexpected end of JSON input');
    const text = Buffer.concat(this.rest).toString('utf8');
    return JSON.parse(text) as T;
  }
}

/**
 * A splitter that parses each item and, as a typed list's items carry no kind or apiVersion, gives
 * them the list's (`restore`) before handing them to `onItem`.
 */
export function listItemSplitter<T extends { kind?: string; apiVersion?: string }>(
  restore: { kind: string; apiVersion: string },
  onItem: (item: T) => void,
): ListItemSplitter {
  return new ListItemSplitter((text) => {
    const item = JSON.parse(text) as T;
    if (item.kind === undefined) {
      item.kind = restore.kind;
      item.apiVersion = restore.apiVersion;
    }
    onItem(item);
  });
}
