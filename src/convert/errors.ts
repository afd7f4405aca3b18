// The converter's one error class: bad input (a checkpoint, tokenizer or GGUF we cannot convert) or a
// refused option. Every message names the file and, where there is one, the tensor or key at fault.

export class ConvertError extends Error {
  override readonly name = "ConvertError";
}

/** Throws a ConvertError; typed `never` so it narrows like a `throw`. */
export function fail(message: string): never {
  throw new ConvertError(message);
}
