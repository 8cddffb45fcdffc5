/**
 * Why a UNet graph cannot be used: `message` is one sentence for anyone (a teacher in front of a
 * class), `detail` the technical facts for the disclosure under it.
 */
export class UnsupportedModelError extends Error {
  override name = 'UnsupportedModelError';

  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}
