// Where a JSON text goes wrong. JSON.parse's messages only sometimes carry a position
// ("Unexpected token '}', ... is not valid JSON" does not), so a small scanner finds the offset
// of the first syntax error; it runs only after JSON.parse has failed.

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

class Stop extends Error {
  constructor(readonly at: number) {
    super('json syntax error');
  }
}

/** A recursive-descent JSON checker that throws Stop at the first syntax error. */
class JsonScanner {
  private i = 0;
  private readonly text: string;
  private readonly n: number;

  constructor(text: string) {
    this.text = text;
    this.n = text.length;
  }

  /** The whole text: one value, then only whitespace. */
  document(): void {
    this.value();
    this.ws();
    if (this.i < this.n) this.fail();
  }

  private ws(): void {
    while (this.i < this.n && WS.has(this.text.charCodeAt(this.i))) this.i++;
  }

  private fail(at = this.i): never {
    throw new Stop(at);
  }

  /** The current offset, or the text's length when past the end (a premature end). */
  private here(): number {
    return this.i >= this.n ? this.n : this.i;
  }

  private str(): void {
    const { text, n } = this;
    this.i++; // opening quote
    while (this.i < n) {
      const i = this.i;
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        this.i++;
        return;
      }
      if (c < 0x20) this.fail();
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === undefined) this.fail(n);
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) this.fail(i + 2);
          this.i += 6;
        } else if ('"\\/bfnrt'.includes(e!)) this.i += 2;
        else this.fail(i + 1);
      } else this.i++;
    }
    this.fail(n);
  }

  private num(): void {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.i, this.i + 400));
    if (!m || m[0] === '-' || m[0] === '') this.fail();
    this.i += m![0].length;
  }

  private lit(word: string): void {
    const { text, n, i } = this;
    for (let k = 0; k < word.length; k++) if (text[i + k] !== word[k]) this.fail(i + k >= n ? n : i + k);
    this.i += word.length;
  }

  /** Past an opening bracket and any whitespace; true (and past it) when the closing one follows at once. */
  private openEmpty(close: string): boolean {
    this.i++;
    this.ws();
    if (this.text[this.i] !== close) return false;
    this.i++;
    return true;
  }

  /** After a member or an element: true past the closing bracket, false past a comma; anything else fails. */
  private closeOrComma(close: string): boolean {
    this.ws();
    const t = this.text[this.i];
    if (t !== ',' && t !== close) this.fail(this.here());
    this.i++;
    return t === close;
  }

  private object(): void {
    if (this.openEmpty('}')) return;
    do {
      this.ws();
      if (this.text[this.i] !== '"') this.fail(this.here());
      this.str();
      this.ws();
      if (this.text[this.i] !== ':') this.fail(this.here());
      this.i++;
      this.value();
    } while (!this.closeOrComma('}'));
  }

  private array(): void {
    if (this.openEmpty(']')) return;
    do this.value();
    while (!this.closeOrComma(']'));
  }

  private value(): void {
    this.ws();
    if (this.i >= this.n) this.fail(this.n);
    const c = this.text[this.i]!;
    if (c === '{') this.object();
    else if (c === '[') this.array();
    else if (c === '"') this.str();
    else if (c === 't') this.lit('true');
    else if (c === 'f') this.lit('false');
    else if (c === 'n') this.lit('null');
    else if (c === '-' || (c >= '0' && c <= '9')) this.num();
    else this.fail();
  }
}

/** Offset of the first syntax error in `text` (text.length for a premature end), or -1 if valid. */
export function jsonSyntaxErrorOffset(text: string): number {
  try {
    new JsonScanner(text).document();
    return -1;
  } catch (e) {
    if (e instanceof Stop) return e.at;
    if (e instanceof RangeError) return -1; // nested deeper than the stack: no position, still a clean error
    throw e;
  }
}
