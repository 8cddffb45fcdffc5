/** A queue failure a user can act on (Redis unreachable, a worker refused a chunk): printed as a message, exit 1. */
export class QueueError extends Error {
  override name = 'QueueError';
}
