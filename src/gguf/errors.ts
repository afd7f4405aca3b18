// The one error class of the GGUF module: every malformed-file or misuse failure is a GgufError.
// It carries the byte offset (where known) and the file, so a bad model names what and where.

export class GgufError extends Error {
  override readonly name = "GgufError";
  /** Byte offset in the file where the problem was found; undefined for non-positional errors. */
  readonly offset: number | undefined;
  /** File path or label the caller gave, if any. */
  readonly file: string | undefined;
  /** The bare description, without the location prefix. */
  readonly detail: string;

  constructor(detail: string, offset?: number, file?: string) {
    const where = offset === undefined ? "" : ` at byte ${offset}`;
    const inFile = file === undefined ? "" : ` in "${file}"`;
    super(`GGUF error${inFile}${where}: ${detail}`);
    this.detail = detail;
    this.offset = offset;
    this.file = file;
  }
}
