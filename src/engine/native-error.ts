// NativeError: a failed call into a native library (libllama-shim, libternary), carrying the C
// status code, the C function's name and the library's last-error message. Engines map it to EngineError.

export class NativeError extends Error {
  override readonly name = "NativeError";

  constructor(
    /** Which native library failed, e.g. `llama-shim`. */
    readonly library: string,
    /** The C function that returned the status. */
    readonly fn: string,
    /** The negative status code (the library's enum). */
    readonly code: number,
    /** The status's symbolic name, e.g. `LSHIM_E_NO_KV_SLOT`. */
    readonly codeName: string,
    /** The library's last-error message for this call. */
    readonly detail: string,
  ) {
    super(`${fn} failed with ${codeName} (${code})${detail ? `: ${detail}` : ""}`);
  }
}
